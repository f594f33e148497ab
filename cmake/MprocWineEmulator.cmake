# Included by the Windows toolchain files (mingw-w64.cmake, clang-cl-msvc.cmake): Wine as
# CMAKE_CROSSCOMPILING_EMULATOR, so ctest and the examples' checks run what they build. Debian's
# wine64 package puts the 64-bit loader outside PATH; /usr/bin/wine is a wrapper script that nags
# about wine32. Use the loader itself. Cache variable: MPROC_WINE.
find_program(MPROC_WINE NAMES wine64 wine
             PATHS /usr/lib/wine /usr/lib64/wine /opt/wine-stable/bin
             NO_CMAKE_FIND_ROOT_PATH
             DOC "Wine loader that runs the Windows build")
if(MPROC_WINE)
    set(CMAKE_CROSSCOMPILING_EMULATOR "${MPROC_WINE}")
endif()
