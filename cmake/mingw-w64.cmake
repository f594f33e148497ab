# Toolchain file: cross-build for 64-bit Windows with MinGW-w64 gcc, and run what it builds (ctest,
# examples) under Wine.
#
#   cmake -S . -B build/mingw -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake
#   cmake -S app -B build/app -DCMAKE_TOOLCHAIN_FILE=<mproc>/cmake/mingw-w64.cmake \
#         -DCMAKE_FIND_ROOT_PATH=<prefix mproc was installed into>   (a consumer)
#
# Cache variables:
#   MPROC_MINGW_TRIPLET   the compiler prefix (default x86_64-w64-mingw32)
#   MPROC_WINE            the Wine loader used as CMAKE_CROSSCOMPILING_EMULATOR (default: Debian's
#                         /usr/lib/wine/wine64, else wine64 or wine on PATH)

set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(MPROC_MINGW_TRIPLET "x86_64-w64-mingw32" CACHE STRING "MinGW-w64 compiler prefix")

find_program(MPROC_MINGW_GCC NAMES ${MPROC_MINGW_TRIPLET}-gcc ${MPROC_MINGW_TRIPLET}-gcc-win32
             NO_CMAKE_FIND_ROOT_PATH)
if(NOT MPROC_MINGW_GCC)
    message(FATAL_ERROR "${MPROC_MINGW_TRIPLET}-gcc not found (Debian: apt-get install gcc-mingw-w64-x86-64)")
endif()
set(CMAKE_C_COMPILER "${MPROC_MINGW_GCC}")
find_program(CMAKE_RC_COMPILER NAMES ${MPROC_MINGW_TRIPLET}-windres NO_CMAKE_FIND_ROOT_PATH)

# Libraries, headers and packages come from the MinGW sysroot and from the roots the caller adds
# with -DCMAKE_FIND_ROOT_PATH=<dir>[;<dir>...] (e.g. the prefix an mproc for Windows was installed
# into, so find_package(mproc) finds it); programs from the host.
if(NOT "/usr/${MPROC_MINGW_TRIPLET}" IN_LIST CMAKE_FIND_ROOT_PATH)
    list(APPEND CMAKE_FIND_ROOT_PATH "/usr/${MPROC_MINGW_TRIPLET}")
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

include("${CMAKE_CURRENT_LIST_DIR}/MprocWineEmulator.cmake")
