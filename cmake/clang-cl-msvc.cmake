# Toolchain file: build for 64-bit Windows in MSVC mode on Linux (the msvc-wine column), and run
# what it builds under Wine.
#
#   cmake -S . -B build/msvc -DCMAKE_TOOLCHAIN_FILE=cmake/clang-cl-msvc.cmake
#
# clang-cl is clang in MSVC's driver mode: it defines _MSC_VER, follows MSVC's language rules and
# ABI and takes cl.exe's options, so CMake treats it as MSVC (`if(MSVC)` holds). The C runtime and
# Windows SDK headers are the MSVC-compatible ones of Wine's development package (libwine-dev),
# the import libraries its x86_64-windows folder (ucrtbase, vcruntime140, kernel32, ...), the
# linker lld-link. Visual Studio's static start-up objects (mainCRTStartup, the DLL entry point,
# atexit, _fltused, TLS support) are not in any package: cmake/msvc/crt_*.c stand in for them, compiled here
# into one library that every program and DLL links, so a consumer project built with this file
# needs nothing of its own. cmake/msvc/mproc_msvc_compat.h, force-included, declares the few
# calls real MSVC's headers have and Wine's lack. Debian: apt-get install clang-19 clang-tools-19
# lld-19 llvm-19 libwine-dev wine64.
#
# Cache variables:
#   MPROC_LLVM_BIN     where clang-cl, lld-link, llvm-lib, llvm-rc, llvm-mt are (/usr/lib/llvm-19/bin)
#   MPROC_WINE_DEV     Wine's include root (/usr/include/wine/wine)
#   MPROC_WINE_LIBS    Wine's x86_64-windows import libraries
#   MPROC_WINE         the Wine loader used as CMAKE_CROSSCOMPILING_EMULATOR

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)

find_path(MPROC_LLVM_BIN NAMES clang-cl
          PATHS /usr/lib/llvm-19/bin /usr/lib/llvm-18/bin /usr/lib/llvm-20/bin
          NO_DEFAULT_PATH DOC "LLVM's bin folder with clang-cl, lld-link and llvm-lib")
if(NOT MPROC_LLVM_BIN)
    message(FATAL_ERROR "clang-cl not found (Debian: apt-get install clang-19 clang-tools-19 "
                        "lld-19 llvm-19)")
endif()
find_path(MPROC_WINE_DEV NAMES msvcrt/stdio.h windows/windows.h
          PATHS /usr/include/wine/wine /usr/include/wine NO_DEFAULT_PATH
          DOC "Wine's MSVC-compatible include root (msvcrt/ and windows/)")
find_path(MPROC_WINE_LIBS NAMES libucrtbase.a
          PATHS /usr/lib/x86_64-linux-gnu/wine/x86_64-windows /usr/lib/wine/x86_64-windows
                /usr/lib64/wine/x86_64-windows
          NO_DEFAULT_PATH DOC "Wine's x86_64-windows import libraries")
if(NOT MPROC_WINE_DEV OR NOT MPROC_WINE_LIBS)
    message(FATAL_ERROR "Wine's MSVC-compatible headers or import libraries not found "
                        "(Debian: apt-get install libwine-dev)")
endif()

set(CMAKE_C_COMPILER "${MPROC_LLVM_BIN}/clang-cl")
set(CMAKE_C_COMPILER_TARGET x86_64-pc-windows-msvc)
set(CMAKE_LINKER "${MPROC_LLVM_BIN}/lld-link" CACHE FILEPATH "" FORCE)
set(CMAKE_AR "${MPROC_LLVM_BIN}/llvm-lib" CACHE FILEPATH "" FORCE)
set(CMAKE_RC_COMPILER "${MPROC_LLVM_BIN}/llvm-rc" CACHE FILEPATH "" FORCE)
set(CMAKE_MT "${MPROC_LLVM_BIN}/llvm-mt" CACHE FILEPATH "" FORCE)
set(CMAKE_OBJDUMP "${MPROC_LLVM_BIN}/llvm-objdump" CACHE FILEPATH "" FORCE)

get_filename_component(_mproc_msvc_dir "${CMAKE_CURRENT_LIST_DIR}/msvc" ABSOLUTE)
# /imsvc: system headers (no warnings from them, as cl.exe's INCLUDE). /Zl: objects name no
# default library (Visual Studio's msvcrt.lib is not here); the libraries come below. /GS-: no
# security cookie, whose handlers live in Visual Studio's static library too.
set(_mproc_msvc_cflags
    "/imsvc \"${MPROC_WINE_DEV}/msvcrt\" /imsvc \"${MPROC_WINE_DEV}/windows\""
    "/FI\"${_mproc_msvc_dir}/mproc_msvc_compat.h\" /Zl /GS-")
string(JOIN " " _mproc_msvc_cflags ${_mproc_msvc_cflags})
set(CMAKE_C_FLAGS_INIT "${_mproc_msvc_cflags}")

# The start-up library, built now (also in CMake's own try_compile projects, whose binary dir
# differs: it takes a fraction of a second).
set(_mproc_crt_dir "${CMAKE_BINARY_DIR}/mproc-msvc-crt")
set(_mproc_crt_lib "${_mproc_crt_dir}/mproc_msvc_crt.lib")
if(NOT EXISTS "${_mproc_crt_lib}")
    file(MAKE_DIRECTORY "${_mproc_crt_dir}")
    set(_mproc_crt_objs)
    foreach(_part main dll common tls)
        execute_process(
            COMMAND "${CMAKE_C_COMPILER}" --target=x86_64-pc-windows-msvc /nologo /c /W4 /WX /O2
                    /imsvc "${MPROC_WINE_DEV}/msvcrt" /imsvc "${MPROC_WINE_DEV}/windows" /Zl /GS-
                    "/Fo${_mproc_crt_dir}/crt_${_part}.obj"
                    -- "${_mproc_msvc_dir}/crt_${_part}.c"
            RESULT_VARIABLE _mproc_rc OUTPUT_VARIABLE _mproc_out ERROR_VARIABLE _mproc_out)
        if(NOT _mproc_rc EQUAL 0)
            message(FATAL_ERROR "clang-cl-msvc.cmake: cannot compile crt_${_part}.c:\n${_mproc_out}")
        endif()
        list(APPEND _mproc_crt_objs "${_mproc_crt_dir}/crt_${_part}.obj")
    endforeach()
    execute_process(COMMAND "${CMAKE_AR}" /nologo "/out:${_mproc_crt_lib}" ${_mproc_crt_objs}
                    RESULT_VARIABLE _mproc_rc OUTPUT_VARIABLE _mproc_out ERROR_VARIABLE _mproc_out)
    if(NOT _mproc_rc EQUAL 0)
        message(FATAL_ERROR "clang-cl-msvc.cmake: llvm-lib failed:\n${_mproc_out}")
    endif()
endif()

# Every link: the start-up library, then the runtime and system DLLs' import libraries.
set(_mproc_msvc_libs "\"${_mproc_crt_lib}\"")
foreach(_lib ucrtbase vcruntime140 kernel32 advapi32 user32 ntdll ws2_32)
    string(APPEND _mproc_msvc_libs " \"${MPROC_WINE_LIBS}/lib${_lib}.a\"")
endforeach()
set(CMAKE_C_STANDARD_LIBRARIES "${_mproc_msvc_libs}" CACHE STRING "" FORCE)
# Programs are console programs entered at crt_main.c's mainCRTStartup, named outright: Wine's
# libucrtbase.a carries a wmain symbol that would make lld-link guess (and warn).
set(CMAKE_EXE_LINKER_FLAGS_INIT "/nodefaultlib /entry:mainCRTStartup")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "/nodefaultlib")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "/nodefaultlib")

# Headers and libraries from the Wine tree only; programs from the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
if(NOT "${MPROC_WINE_LIBS}" IN_LIST CMAKE_FIND_ROOT_PATH)
    list(APPEND CMAKE_FIND_ROOT_PATH "${MPROC_WINE_LIBS}")
endif()

include("${CMAKE_CURRENT_LIST_DIR}/MprocWineEmulator.cmake")
