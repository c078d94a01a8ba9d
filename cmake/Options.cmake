# Project-wide compile options as an INTERFACE target: warnings (as errors) and sanitizers.
# Only project targets link it, so third-party headers are never compiled with -Werror.
add_library(pos_options INTERFACE)
add_library(pos::options ALIAS pos_options)
target_compile_options(pos_options INTERFACE -Wall -Wextra -Wpedantic -Werror)

# Unity builds: each target's .cpp files are compiled in batches of 8 as one translation unit, so
# the Boost.Asio/Beast/JSON headers are parsed and their templates instantiated once per batch
# instead of once per file. Names in anonymous namespaces must therefore be unique per target.
if(POS_UNITY_BUILD)
  set(CMAKE_UNITY_BUILD ON)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC treats a .cpp included into the batch file like a header and warns that a class (a pimpl
    # Impl) has members of that file's anonymous-namespace types; that is only an artefact here.
    target_compile_options(pos_options INTERFACE -Wno-subobject-linkage)
  endif()
endif()

if(POS_SANITIZE)
  target_compile_options(pos_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                               -fno-sanitize-recover=undefined)
  target_link_options(pos_options INTERFACE -fsanitize=address,undefined)
endif()

if(POS_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "POS_FUZZ needs clang: configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  # Instrument project code for coverage; the fuzz targets add -fsanitize=fuzzer at link time.
  target_compile_options(pos_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined
                                               -fno-omit-frame-pointer)
  target_link_options(pos_options INTERFACE -fsanitize=address,undefined)
endif()
