# Runs `promtool ARGS` in WORKDIR (cmake -DWORKDIR=... -DARGS="a;b" -P promtool.cmake) and fails
# with a message naming the missing package when promtool is not installed: a test that cannot
# run is a failure, never a skip.
find_program(PROMTOOL promtool)
if(NOT PROMTOOL)
  message(FATAL_ERROR "promtool is missing: install the Debian package 'prometheus' "
                      "(./scripts/install-deps does)")
endif()
execute_process(COMMAND ${PROMTOOL} ${ARGS} WORKING_DIRECTORY ${WORKDIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "promtool ${ARGS}: exit ${rc}")
endif()
