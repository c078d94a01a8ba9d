# Install rules and the Debian packages `posagent` and `poscollector` (CPack DEB, one package per
# install component). Included by the top-level CMakeLists.txt after every program's folder.
# Build the packages (docs/packaging.md):
#   cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
#   cmake --build build
#   cpack --config build/CPackConfig.cmake -B build/packages
#
# Layout of an installed package: /usr/bin/<program>, /etc/<package>/<package>.toml (conffile),
# /lib/systemd/system/<package>.service, /usr/lib/sysusers.d and /usr/lib/tmpfiles.d entries for
# the system user and /var/lib/<package>. The /etc and unit paths are absolute on purpose: Debian
# puts them there whatever the prefix of the binaries is.

set(POS_DEB_TEMPLATES ${PROJECT_SOURCE_DIR}/packaging/debian)
set(POS_DEB_GENERATED ${PROJECT_BINARY_DIR}/packaging/debian)

# pos_debian_package(<package> PROGRAMS <targets>... SUMMARY <line> DESCRIPTION <text>
#                    GECOS <user's full name> STATE_WARNING <what purging the state loses>)
# Installs the programs, the config and the unit as component <package> and generates its
# maintainer scripts and conffiles list from packaging/debian/*.in.
function(pos_debian_package package)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "SUMMARY;DESCRIPTION;GECOS;STATE_WARNING" "PROGRAMS")
  set(PACKAGE ${package})
  set(GECOS ${ARG_GECOS})
  set(STATE_WARNING ${ARG_STATE_WARNING})
  set(out ${POS_DEB_GENERATED}/${package})
  set(control_extra)
  foreach(file postinst prerm postrm conffiles)
    configure_file(${POS_DEB_TEMPLATES}/${file}.in ${out}/control/${file} @ONLY)
    list(APPEND control_extra ${out}/control/${file})
  endforeach()
  configure_file(${POS_DEB_TEMPLATES}/sysusers.conf.in ${out}/sysusers.d/${package}.conf @ONLY)
  configure_file(${POS_DEB_TEMPLATES}/tmpfiles.conf.in ${out}/tmpfiles.d/${package}.conf @ONLY)

  install(TARGETS ${ARG_PROGRAMS} RUNTIME DESTINATION bin COMPONENT ${package})
  install(FILES ${PROJECT_SOURCE_DIR}/packaging/${package}.toml
          DESTINATION /etc/${package} COMPONENT ${package})
  install(FILES ${PROJECT_SOURCE_DIR}/systemd/${package}.service
          DESTINATION /lib/systemd/system COMPONENT ${package})
  install(FILES ${out}/sysusers.d/${package}.conf DESTINATION lib/sysusers.d COMPONENT ${package})
  install(FILES ${out}/tmpfiles.d/${package}.conf DESTINATION lib/tmpfiles.d COMPONENT ${package})

  string(TOUPPER ${package} upper)
  set(CPACK_DEBIAN_${upper}_PACKAGE_NAME ${package} PARENT_SCOPE)
  set(CPACK_DEBIAN_${upper}_PACKAGE_SECTION net PARENT_SCOPE)
  set(CPACK_DEBIAN_${upper}_DESCRIPTION "${ARG_SUMMARY}\n${ARG_DESCRIPTION}" PARENT_SCOPE)
  set(CPACK_DEBIAN_${upper}_PACKAGE_CONTROL_EXTRA "${control_extra}" PARENT_SCOPE)
  set(CPACK_COMPONENT_${upper}_DESCRIPTION "${ARG_SUMMARY}" PARENT_SCOPE)
endfunction()

pos_debian_package(posagent
  PROGRAMS posagent
  SUMMARY "Fastyle POS agent: durable event buffer and MQTT forwarder for a till"
  DESCRIPTION "Takes sales, returns and stock movements from the POS on loopback HTTP, stores them
durably in SQLite before it answers, and forwards them in zstd batches over MQTT 5 with mutual TLS
until the central collector acknowledges them. Runs as the system user posagent under systemd."
  GECOS "Fastyle POS agent"
  STATE_WARNING "events not yet acknowledged by the collector are lost")

set(pos_collector_programs poscollector)
if(TARGET posctl)
  list(APPEND pos_collector_programs posctl)
endif()
pos_debian_package(poscollector
  PROGRAMS ${pos_collector_programs}
  SUMMARY "Fastyle POS collector: checks batches from the tills and publishes them to Pub/Sub"
  DESCRIPTION "Takes the tills' batches off the MQTT broker, checks them, drops duplicates,
publishes every event to Google Cloud Pub/Sub and only then acknowledges them. Serves the fleet
view and the ops dashboard. Includes posctl, the operator tool."
  GECOS "Fastyle POS collector"
  STATE_WARNING "the duplicate marks and the fleet view are lost")
# The Prometheus scrape config and alerting rules, as examples (docs/operations.md, "Prometheus").
install(FILES ${PROJECT_SOURCE_DIR}/packaging/prometheus/prometheus.yml
              ${PROJECT_SOURCE_DIR}/packaging/prometheus/poscollector.rules.yml
        DESTINATION share/doc/poscollector/examples/prometheus COMPONENT poscollector)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME fastyle-pos)
set(CPACK_PACKAGE_VENDOR "Fastyle")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Fastyle edge platform team <edge-platform@fastyle.example>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL posagent poscollector)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies come from dpkg-shlibdeps; the maintainer scripts need systemd-sysusers or,
# on a system without systemd, adduser.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
