# The packaging tests: mproc as a user gets it from `cmake --install`. CTest runs one step per
# entry (cmake/MprocConsumerTests.cmake registers them):
#
#   cmake -DSTEP=<step> -DWORK_DIR=<dir> [options] -P run_consumer.cmake
#
# Steps:
#   install       `cmake --install BUILD_DIR --prefix WORK_DIR/prefix`: the build under test
#   find_package  configure and build tests/consumer (find_package(mproc CONFIG REQUIRED)) against
#                 WORK_DIR/prefix, run it, check its line
#   pkg-config    compile tests/consumer/main.c alone with `pkg-config --cflags --libs mproc`
#                 (with --static for a static library), run it, check its line
#   shared_build  configure mproc with BUILD_SHARED_LIBS=ON (library only) in WORK_DIR/build, build
#                 it, install it into WORK_DIR/prefix
#   exports       the installed shared library exports only `mproc_` names, and every MPROC_API
#                 call of the header: `nm -D --defined-only` of the .so, `objdump -p` of the DLL
#
# Options (-D...):
#   SOURCE_DIR      mproc's source tree (required)
#   BUILD_DIR       the build to install (step install)
#   KIND            static or shared: what WORK_DIR/prefix holds (default static)
#   VERSION         the version the consumer must report (required for find_package, pkg-config)
#   GENERATOR, MAKE_PROGRAM, C_COMPILER, BUILD_TYPE, TOOLCHAIN_FILE, WINE
#                   how to configure: the outer build's values
#   LIBDIR, BINDIR  CMAKE_INSTALL_LIBDIR / _BINDIR of the installed tree (default lib, bin)
#   EMULATOR        runs the consumer (Wine for the MinGW build); a list is fine
#   EXTRA_C_FLAGS   added to the consumer's compile and link (a sanitized libmproc.a needs the
#                   sanitizer's runtime in the program: -fsanitize=...)
#   WERROR          passed to the shared build as MPROC_WERROR
#   NM, OBJDUMP, PKG_CONFIG   the tools (found on PATH when not given)
#   TIMEOUT         seconds for one program run or build (default 300)
#
# Programs run with their output in files, not pipes: Wine's server, started by the first Windows
# program, inherits the program's stdout and keeps it open after the program has ended.

cmake_minimum_required(VERSION 3.21)

foreach(_var STEP WORK_DIR SOURCE_DIR)
    if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
        message(FATAL_ERROR "run_consumer.cmake: -D${_var}=... is required")
    endif()
endforeach()
if(NOT DEFINED KIND)
    set(KIND static)
endif()
if(NOT DEFINED LIBDIR OR LIBDIR STREQUAL "")
    set(LIBDIR lib)
endif()
if(NOT DEFINED BINDIR OR BINDIR STREQUAL "")
    set(BINDIR bin)
endif()
if(NOT DEFINED TIMEOUT)
    set(TIMEOUT 300)
endif()

set(PREFIX "${WORK_DIR}/prefix")
set(CONSUMER_SOURCE_DIR "${SOURCE_DIR}/tests/consumer")
if(TOOLCHAIN_FILE)
    set(_exe_suffix ".exe")
else()
    set(_exe_suffix "")
endif()

# run(NAME <log name> COMMAND <args...> [WORKING_DIRECTORY <dir>]): runs a command with its output
# in WORK_DIR/<log name>.log, shows that output and stops when it fails.
function(run)
    cmake_parse_arguments(PARSE_ARGV 0 R "" "NAME;WORKING_DIRECTORY" "COMMAND")
    if(NOT R_WORKING_DIRECTORY)
        set(R_WORKING_DIRECTORY "${WORK_DIR}")
    endif()
    set(_log "${WORK_DIR}/${R_NAME}.log")
    list(JOIN R_COMMAND " " _shown)
    message(STATUS "${R_NAME}: ${_shown}")
    execute_process(COMMAND ${R_COMMAND}
                    WORKING_DIRECTORY "${R_WORKING_DIRECTORY}"
                    RESULT_VARIABLE _rc
                    OUTPUT_FILE "${_log}"
                    ERROR_FILE "${_log}.err"
                    TIMEOUT ${TIMEOUT})
    if(NOT _rc EQUAL 0)
        file(READ "${_log}" _out)
        file(READ "${_log}.err" _err)
        message(NOTICE "--- stdout:\n${_out}--- stderr:\n${_err}---")
        message(FATAL_ERROR "${R_NAME} failed (${_rc}): ${_shown}")
    endif()
endfunction()

# configure_args(VAR): the arguments that make a configure like the outer build's.
function(configure_args var)
    set(_args "")
    if(GENERATOR)
        list(APPEND _args -G "${GENERATOR}")
    endif()
    if(MAKE_PROGRAM)
        list(APPEND _args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
    endif()
    if(TOOLCHAIN_FILE)
        list(APPEND _args "-DCMAKE_TOOLCHAIN_FILE=${TOOLCHAIN_FILE}")
        if(WINE)
            list(APPEND _args "-DMPROC_WINE=${WINE}")
        endif()
    elseif(C_COMPILER)
        list(APPEND _args "-DCMAKE_C_COMPILER=${C_COMPILER}")
    endif()
    if(BUILD_TYPE)
        list(APPEND _args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
    endif()
    set(${var} "${_args}" PARENT_SCOPE)
endfunction()

# check_program(EXE NAME): runs the consumer (under EMULATOR), checks its one line.
function(check_program exe name)
    if(NOT EXISTS "${exe}")
        message(FATAL_ERROR "${name}: ${exe} was not built")
    endif()
    set(_out "${WORK_DIR}/${name}.stdout")
    set(_errf "${WORK_DIR}/${name}.stderr")
    execute_process(COMMAND ${EMULATOR} "${exe}"
                    WORKING_DIRECTORY "${WORK_DIR}"
                    RESULT_VARIABLE _rc
                    OUTPUT_FILE "${_out}"
                    ERROR_FILE "${_errf}"
                    TIMEOUT ${TIMEOUT})
    file(READ "${_out}" _text)
    file(READ "${_errf}" _err)
    string(REPLACE "\r" "" _text "${_text}")
    set(_want "mproc-consumer: library ${VERSION}, header ${VERSION}, square(7) = 49 in a worker\n")
    if(NOT _rc EQUAL 0 OR NOT _text STREQUAL _want)
        message(NOTICE "--- ${name}: exit status ${_rc}\n--- stdout:\n${_text}--- stderr:\n"
                       "${_err}---\n--- expected stdout:\n${_want}---")
        message(FATAL_ERROR "${name}: the consumer did not print the expected line")
    endif()
    message(STATUS "${name}: ${_text}")
endfunction()

# run_consumer(EXE NAME): check_program with the default start method, and on POSIX once more
# with spawn (the start-up path Windows always takes).
function(run_consumer exe name)
    unset(ENV{MPROC_START_METHOD})
    check_program("${exe}" "${name}")
    if(NOT TOOLCHAIN_FILE)
        set(ENV{MPROC_START_METHOD} spawn)
        check_program("${exe}" "${name}-spawn")
        unset(ENV{MPROC_START_METHOD})
    endif()
endfunction()

function(require_prefix)
    if(NOT EXISTS "${PREFIX}/include/mproc.h")
        message(FATAL_ERROR "${PREFIX} holds no installed mproc: the install step "
                            "(consumer_install / shared_build) must run first")
    endif()
endfunction()

# ---- the steps ----------------------------------------------------------------------------------
if(STEP STREQUAL "install")
    if(NOT BUILD_DIR)
        message(FATAL_ERROR "install: -DBUILD_DIR=... is required")
    endif()
    file(REMOVE_RECURSE "${WORK_DIR}")
    file(MAKE_DIRECTORY "${WORK_DIR}")
    set(_args --install "${BUILD_DIR}" --prefix "${PREFIX}")
    if(BUILD_TYPE)
        list(APPEND _args --config "${BUILD_TYPE}")
    endif()
    run(NAME install COMMAND "${CMAKE_COMMAND}" ${_args})
    foreach(_f include/mproc.h "${LIBDIR}/cmake/mproc/mprocConfig.cmake"
            "${LIBDIR}/cmake/mproc/mprocConfigVersion.cmake"
            "${LIBDIR}/cmake/mproc/mproc-${KIND}-targets.cmake" "${LIBDIR}/pkgconfig/mproc.pc")
        if(NOT EXISTS "${PREFIX}/${_f}")
            message(FATAL_ERROR "install: ${_f} is missing from ${PREFIX}")
        endif()
    endforeach()
    if(KIND STREQUAL "static")
        file(GLOB _libs "${PREFIX}/${LIBDIR}/*mproc*.a" "${PREFIX}/${LIBDIR}/*mproc*.lib")
    else()
        file(GLOB _libs "${PREFIX}/${LIBDIR}/*mproc*.so" "${PREFIX}/${BINDIR}/*mproc*.dll")
    endif()
    if(NOT _libs)
        message(FATAL_ERROR "install: no ${KIND} mproc library in ${PREFIX}")
    endif()
    message(STATUS "install: ${PREFIX}")

elseif(STEP STREQUAL "shared_build")
    file(REMOVE_RECURSE "${WORK_DIR}")
    file(MAKE_DIRECTORY "${WORK_DIR}")
    configure_args(_args)
    if(NOT DEFINED WERROR)
        set(WERROR OFF)
    endif()
    run(NAME shared-configure
        COMMAND "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}/build" ${_args}
                -DBUILD_SHARED_LIBS=ON -DMPROC_BUILD_TESTS=OFF -DMPROC_BUILD_EXAMPLES=OFF
                -DMPROC_BUILD_BENCH=OFF -DMPROC_BUILD_FUZZ=OFF -DMPROC_INSTALL=ON
                "-DMPROC_WERROR=${WERROR}" "-DCMAKE_INSTALL_PREFIX=${PREFIX}"
                "-DCMAKE_INSTALL_LIBDIR=${LIBDIR}" "-DCMAKE_INSTALL_BINDIR=${BINDIR}")
    run(NAME shared-build COMMAND "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" --parallel 2)
    run(NAME shared-install COMMAND "${CMAKE_COMMAND}" --install "${WORK_DIR}/build")
    if(NOT EXISTS "${PREFIX}/${LIBDIR}/cmake/mproc/mproc-shared-targets.cmake")
        message(FATAL_ERROR "shared_build: mproc-shared-targets.cmake was not installed")
    endif()
    message(STATUS "shared_build: ${PREFIX}")

elseif(STEP STREQUAL "exports")
    require_prefix()
    # The calls the header declares: each must be exported.
    file(STRINGS "${SOURCE_DIR}/include/mproc.h" _decls REGEX "^MPROC_API ")
    set(_api "")
    foreach(_d IN LISTS _decls)
        if(_d MATCHES "(mproc_[a-z0-9_]+)\\(")
            list(APPEND _api "${CMAKE_MATCH_1}")
        endif()
    endforeach()
    list(LENGTH _api _napi)
    if(_napi EQUAL 0)
        message(FATAL_ERROR "exports: no MPROC_API declaration found in include/mproc.h")
    endif()

    set(_exported "")
    if(TOOLCHAIN_FILE)
        file(GLOB _lib "${PREFIX}/${BINDIR}/*mproc*.dll")
        if(NOT OBJDUMP)
            find_program(OBJDUMP NAMES x86_64-w64-mingw32-objdump objdump REQUIRED)
        endif()
        if(NOT _lib)
            message(FATAL_ERROR "exports: no mproc DLL in ${PREFIX}/${BINDIR}")
        endif()
        run(NAME exports COMMAND "${OBJDUMP}" -p ${_lib})
        # The export table. GNU objdump: "[Ordinal/Name Pointer] Table", then one "\t[  n] name"
        # per export. llvm-objdump (MSVC mode): "Ordinal  RVA  Name", then "  n  0xRVA  name".
        file(STRINGS "${WORK_DIR}/exports.log" _lines)
        set(_in_table FALSE)
        foreach(_l IN LISTS _lines)
            if(_l MATCHES "\\[Ordinal/Name Pointer\\] Table" OR _l MATCHES "^ *Ordinal +RVA +Name$")
                set(_in_table TRUE)
            elseif(_in_table AND _l MATCHES "^[ \t]*\\[ *[0-9]+\\] +([^ ]+)$")
                list(APPEND _exported "${CMAKE_MATCH_1}")
            elseif(_in_table AND _l MATCHES "^ +[0-9]+ +0x[0-9a-fA-F]+ +([^ ]+)$")
                list(APPEND _exported "${CMAKE_MATCH_1}")
            elseif(_in_table)
                set(_in_table FALSE)
            endif()
        endforeach()
    else()
        file(GLOB _lib "${PREFIX}/${LIBDIR}/lib*mproc*.so")
        if(NOT NM)
            find_program(NM NAMES nm REQUIRED)
        endif()
        if(NOT _lib)
            message(FATAL_ERROR "exports: no libmproc.so in ${PREFIX}/${LIBDIR}")
        endif()
        run(NAME exports COMMAND "${NM}" -D --defined-only ${_lib})
        # "<address> <type> <name>[@version]"
        file(STRINGS "${WORK_DIR}/exports.log" _lines)
        foreach(_l IN LISTS _lines)
            if(_l MATCHES "^[0-9a-fA-F]* *[A-Za-z] ([^ @]+)")
                list(APPEND _exported "${CMAKE_MATCH_1}")
            endif()
        endforeach()
    endif()

    list(LENGTH _exported _nexp)
    if(_nexp EQUAL 0)
        message(FATAL_ERROR "exports: no exported symbol found in ${_lib} (see exports.log)")
    endif()
    set(_bad "")
    foreach(_s IN LISTS _exported)
        if(NOT _s MATCHES "^mproc_")
            list(APPEND _bad "${_s}")
        endif()
    endforeach()
    set(_missing "")
    foreach(_s IN LISTS _api)
        if(NOT _s IN_LIST _exported)
            list(APPEND _missing "${_s}")
        endif()
    endforeach()
    if(_bad OR _missing)
        list(JOIN _bad " " _bad)
        list(JOIN _missing " " _missing)
        message(FATAL_ERROR "exports of ${_lib}:\n"
                            "  exported without the mproc_ prefix: ${_bad}\n"
                            "  declared MPROC_API but not exported: ${_missing}")
    endif()
    message(STATUS "exports: ${_nexp} symbols, all mproc_; the header's ${_napi} calls all there")

elseif(STEP STREQUAL "find_package")
    require_prefix()
    if(NOT VERSION)
        message(FATAL_ERROR "find_package: -DVERSION=... is required")
    endif()
    set(_bin "${WORK_DIR}/consumer-cmake")
    file(REMOVE_RECURSE "${_bin}")
    configure_args(_args)
    if(TOOLCHAIN_FILE)
        # As the README tells a user: the toolchain searches packages under its find roots only
        # (CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY), so the prefix becomes one more root.
        list(APPEND _args "-DCMAKE_FIND_ROOT_PATH=${PREFIX}")
    else()
        list(APPEND _args "-DCMAKE_PREFIX_PATH=${PREFIX}")
    endif()
    if(EXTRA_C_FLAGS)
        list(APPEND _args "-DCMAKE_C_FLAGS=${EXTRA_C_FLAGS}"
             "-DCMAKE_EXE_LINKER_FLAGS=${EXTRA_C_FLAGS}")
    endif()
    run(NAME consumer-configure
        COMMAND "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${_bin}" ${_args})
    # The package that was found must be the one installed in PREFIX.
    file(STRINGS "${_bin}/CMakeCache.txt" _dir REGEX "^mproc_DIR:")
    string(REGEX REPLACE "^mproc_DIR:[A-Z]+=" "" _dir "${_dir}")
    get_filename_component(_dir "${_dir}" REALPATH)
    get_filename_component(_want "${PREFIX}/${LIBDIR}/cmake/mproc" REALPATH)
    if(NOT _dir STREQUAL _want)
        message(FATAL_ERROR "find_package found mproc in ${_dir}, not in ${_want}")
    endif()
    run(NAME consumer-build COMMAND "${CMAKE_COMMAND}" --build "${_bin}")
    run_consumer("${_bin}/mproc_consumer${_exe_suffix}" consumer-cmake)

elseif(STEP STREQUAL "pkg-config")
    require_prefix()
    if(NOT VERSION)
        message(FATAL_ERROR "pkg-config: -DVERSION=... is required")
    endif()
    if(NOT PKG_CONFIG)
        find_program(PKG_CONFIG NAMES pkg-config pkgconf)
    endif()
    if(NOT PKG_CONFIG)
        message(FATAL_ERROR "pkg-config not found (Debian: apt-get install pkgconf)")
    endif()
    if(NOT C_COMPILER)
        message(FATAL_ERROR "pkg-config: -DC_COMPILER=... is required")
    endif()
    # Only this prefix's .pc files; none of the system's.
    set(ENV{PKG_CONFIG_LIBDIR} "${PREFIX}/${LIBDIR}/pkgconfig")
    unset(ENV{PKG_CONFIG_PATH})
    unset(ENV{PKG_CONFIG_SYSROOT_DIR})

    run(NAME pkg-config-version COMMAND "${PKG_CONFIG}" --modversion mproc)
    file(STRINGS "${WORK_DIR}/pkg-config-version.log" _v)
    if(NOT _v STREQUAL VERSION)
        message(FATAL_ERROR "pkg-config --modversion mproc gives '${_v}', not ${VERSION}")
    endif()
    # A static library brings its own dependencies only with --static (Libs.private).
    set(_pc_args --cflags --libs)
    if(KIND STREQUAL "static")
        list(PREPEND _pc_args --static)
    endif()
    run(NAME pkg-config-flags COMMAND "${PKG_CONFIG}" ${_pc_args} mproc)
    file(READ "${WORK_DIR}/pkg-config-flags.log" _flags)
    string(STRIP "${_flags}" _flags)
    message(STATUS "pkg-config ${_pc_args} mproc: ${_flags}")
    separate_arguments(_flags UNIX_COMMAND "${_flags}")
    separate_arguments(_extra UNIX_COMMAND "${EXTRA_C_FLAGS}")

    set(_exe "${WORK_DIR}/consumer-pc/mproc_consumer${_exe_suffix}")
    file(REMOVE_RECURSE "${WORK_DIR}/consumer-pc")
    file(MAKE_DIRECTORY "${WORK_DIR}/consumer-pc")
    set(_cc_extra "")
    if(TOOLCHAIN_FILE)
        list(APPEND _cc_extra -static-libgcc)
    endif()
    run(NAME pkg-config-compile
        COMMAND "${C_COMPILER}" -std=c99 -Wall -Wextra -Werror ${_extra} ${_cc_extra}
                "${CONSUMER_SOURCE_DIR}/main.c" -o "${_exe}" ${_flags})
    if(KIND STREQUAL "shared")
        if(TOOLCHAIN_FILE)
            # Windows finds a DLL beside the .exe.
            file(GLOB _dlls "${PREFIX}/${BINDIR}/*mproc*.dll")
            file(COPY ${_dlls} DESTINATION "${WORK_DIR}/consumer-pc")
        else()
            set(ENV{LD_LIBRARY_PATH} "${PREFIX}/${LIBDIR}")
        endif()
    endif()
    run_consumer("${_exe}" consumer-pkg-config)

else()
    message(FATAL_ERROR "run_consumer.cmake: unknown STEP '${STEP}'")
endif()
