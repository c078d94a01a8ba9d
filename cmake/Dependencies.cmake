# Every third-party dependency is found here, once. All come from Debian 12 packages
# (see scripts/install-deps).
find_package(Threads REQUIRED)
find_package(Boost 1.81.0 EXACT REQUIRED CONFIG COMPONENTS json)
find_package(PkgConfig REQUIRED)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)

if(POS_BUILD_APPS)
  find_package(OpenSSL 3 REQUIRED)
  find_package(SQLite3 REQUIRED)
  find_package(PahoMqttCpp REQUIRED)
  find_package(spdlog REQUIRED)
  find_package(tomlplusplus REQUIRED)
  find_package(CLI11 CONFIG REQUIRED)
  pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
  # libpq for the PostgreSQL mark store ([marks] type = "postgres").
  pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
endif()

if(POS_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
  # libfuse 3 for powercutfs, the power-cut test filesystem (tests/powercut).
  pkg_check_modules(FUSE3 REQUIRED IMPORTED_TARGET fuse3)
endif()
if(POS_BUILD_BENCH AND POS_BUILD_TESTS)
  find_package(benchmark REQUIRED)
endif()
