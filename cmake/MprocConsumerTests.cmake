# The packaging tests (tests/consumer/run_consumer.cmake): mproc as a user gets it.
#
#   consumer_install       installs this build into a temporary prefix (a fixture for the next two)
#   consumer_find_package  builds and runs tests/consumer against it with find_package(mproc)
#   consumer_pkg_config    builds and runs tests/consumer/main.c with pkg-config's flags
#   shared_build           builds mproc as a shared library (library only) and installs it
#   shared_exports         the .so / DLL exports only mproc_ names, and every MPROC_API call
#   shared_find_package    find_package and pkg-config consumers of the shared library
#   shared_pkg_config
# (The pkg-config entries are left out in MSVC mode: pkg-config's flags are GCC-style.)
#
# Linux: label "fork" (scripts/test.sh's linux-fork column). The MinGW-w64 build: the same names
# with a _win suffix, label "windows", the consumer run by CMAKE_CROSSCOMPILING_EMULATOR (Wine).
# Every entry also has the label "consumer": `ctest -L consumer` runs just these.

if(NOT MPROC_INSTALL)
    message(STATUS "mproc: MPROC_INSTALL is OFF: no packaging tests")
    return()
endif()

set(MPROC_CONSUMER_TIMEOUT 900 CACHE STRING "CTest timeout of one packaging test, in seconds")

set(_mproc_consumer_script "${PROJECT_SOURCE_DIR}/tests/consumer/run_consumer.cmake")
set(_mproc_consumer_root "${PROJECT_BINARY_DIR}/consumer")

if(WIN32)
    set(_mproc_sfx "_win")
    set(_mproc_labels "windows;consumer")
    set(_mproc_env "WINEDEBUG=-all;WINEPREFIX=${MPROC_WINEPREFIX};WINEDLLOVERRIDES=winemenubuilder.exe,mscoree,mshtml=d")
else()
    set(_mproc_sfx "")
    set(_mproc_labels "fork;consumer")
    set(_mproc_env "")
endif()

set(_mproc_emulator "")
if(CMAKE_CROSSCOMPILING AND CMAKE_CROSSCOMPILING_EMULATOR)
    set(_mproc_emulator "${CMAKE_CROSSCOMPILING_EMULATOR}")
endif()

# A sanitized libmproc.a needs the sanitizer runtime in whatever links it.
set(_mproc_extra_flags "")
if(MPROC_SANITIZE AND NOT MSVC AND NOT MINGW)
    list(JOIN MPROC_SANITIZE "," _mproc_san)
    set(_mproc_extra_flags "-fsanitize=${_mproc_san}")
endif()

find_program(MPROC_PKG_CONFIG NAMES pkg-config pkgconf DOC "pkg-config, for the packaging tests")

get_target_property(_mproc_kind_type mproc TYPE)
if(_mproc_kind_type STREQUAL "SHARED_LIBRARY")
    set(_mproc_kind shared)
else()
    set(_mproc_kind static)
endif()

# The outer build's configuration, handed to every step.
set(_mproc_common
    "-DSOURCE_DIR=${PROJECT_SOURCE_DIR}"
    "-DVERSION=${PROJECT_VERSION}"
    "-DGENERATOR=${CMAKE_GENERATOR}"
    "-DMAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}"
    "-DC_COMPILER=${CMAKE_C_COMPILER}"
    "-DBUILD_TYPE=${CMAKE_BUILD_TYPE}"
    "-DTOOLCHAIN_FILE=${CMAKE_TOOLCHAIN_FILE}"
    "-DWINE=${MPROC_WINE}"
    "-DLIBDIR=${CMAKE_INSTALL_LIBDIR}"
    "-DBINDIR=${CMAKE_INSTALL_BINDIR}"
    "-DEMULATOR=${_mproc_emulator}"
    "-DNM=${CMAKE_NM}"
    "-DOBJDUMP=${CMAKE_OBJDUMP}"
    "-DPKG_CONFIG=${MPROC_PKG_CONFIG}"
    "-DWERROR=${MPROC_WERROR}")

# mproc_consumer_test(NAME STEP WORK KIND EXTRA_FLAGS [FIXTURES_SETUP f] [FIXTURES_REQUIRED f])
function(mproc_consumer_test name step work kind extra)
    cmake_parse_arguments(PARSE_ARGV 5 T "" "FIXTURES_SETUP;FIXTURES_REQUIRED" "")
    add_test(NAME ${name}${_mproc_sfx}
             COMMAND "${CMAKE_COMMAND}" ${_mproc_common} "-DSTEP=${step}"
                     "-DWORK_DIR=${_mproc_consumer_root}/${work}" "-DKIND=${kind}"
                     "-DBUILD_DIR=${PROJECT_BINARY_DIR}" "-DEXTRA_C_FLAGS=${extra}"
                     -P "${_mproc_consumer_script}")
    set_tests_properties(${name}${_mproc_sfx} PROPERTIES
        LABELS "${_mproc_labels}"
        TIMEOUT ${MPROC_CONSUMER_TIMEOUT})
    if(_mproc_env)
        set_tests_properties(${name}${_mproc_sfx} PROPERTIES ENVIRONMENT "${_mproc_env}")
    endif()
    if(T_FIXTURES_SETUP)
        set_tests_properties(${name}${_mproc_sfx} PROPERTIES
            FIXTURES_SETUP ${T_FIXTURES_SETUP}${_mproc_sfx})
    endif()
    if(T_FIXTURES_REQUIRED)
        set_tests_properties(${name}${_mproc_sfx} PROPERTIES
            FIXTURES_REQUIRED ${T_FIXTURES_REQUIRED}${_mproc_sfx})
    endif()
endfunction()

# This build, installed.
mproc_consumer_test(consumer_install install installed ${_mproc_kind} ""
                    FIXTURES_SETUP mproc_installed)
mproc_consumer_test(consumer_find_package find_package installed ${_mproc_kind}
                    "${_mproc_extra_flags}" FIXTURES_REQUIRED mproc_installed)
# pkg-config hands out GCC-style flags (-I, -L, -l): no use to cl.exe or clang-cl, whose users
# take the CMake package.
set(_mproc_pkg_config_tests ON)
if(MSVC)
    set(_mproc_pkg_config_tests OFF)
endif()
if(_mproc_pkg_config_tests)
    mproc_consumer_test(consumer_pkg_config pkg-config installed ${_mproc_kind}
                        "${_mproc_extra_flags}" FIXTURES_REQUIRED mproc_installed)
endif()

# A shared build of the same sources (without sanitizers: it is a separate, plain build).
mproc_consumer_test(shared_build shared_build shared shared "" FIXTURES_SETUP mproc_shared)
mproc_consumer_test(shared_exports exports shared shared "" FIXTURES_REQUIRED mproc_shared)
mproc_consumer_test(shared_find_package find_package shared shared ""
                    FIXTURES_REQUIRED mproc_shared)
if(_mproc_pkg_config_tests)
    mproc_consumer_test(shared_pkg_config pkg-config shared shared "" FIXTURES_REQUIRED mproc_shared)
endif()
