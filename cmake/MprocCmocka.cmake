# Where a cross build (MinGW) finds cmocka's source: it has no system cmocka for the target and
# compiles cmocka 1.1.5 from source. Nothing is downloaded unless MPROC_CMOCKA_DOWNLOAD is on, so
# a configure on a machine without internet access never fails on a download.
#
# mproc_cmocka_source(VAR) sets VAR to the first of
#   FETCHCONTENT_SOURCE_DIR_CMOCKA          (a cmocka 1.1.5 source tree given by the caller)
#   <mproc>/.deps/cmocka-1.1.5              (Debian's source package, fetched by scripts/test.sh)
# that holds a CMakeLists.txt, or to "" when neither does.

option(MPROC_CMOCKA_DOWNLOAD "Cross builds: download cmocka 1.1.5's source from cmocka.org" OFF)

function(mproc_cmocka_source var)
    set(_found "")
    foreach(_dir "${FETCHCONTENT_SOURCE_DIR_CMOCKA}" "${PROJECT_SOURCE_DIR}/.deps/cmocka-1.1.5")
        if(_dir AND EXISTS "${_dir}/CMakeLists.txt")
            set(_found "${_dir}")
            break()
        endif()
    endforeach()
    set(${var} "${_found}" PARENT_SCOPE)
endfunction()

# The one line a test build without cmocka's source prints.
set(MPROC_CMOCKA_HOWTO
    "no cmocka source for the Windows tests: run ./scripts/test.sh --windows-only once (it puts "
    "Debian's source package in .deps/), or pass -DFETCHCONTENT_SOURCE_DIR_CMOCKA=<cmocka-1.1.5 "
    "source dir> or -DMPROC_CMOCKA_DOWNLOAD=ON (needs internet)")
string(CONCAT MPROC_CMOCKA_HOWTO ${MPROC_CMOCKA_HOWTO})
