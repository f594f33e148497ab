# The one list of mproc's sources, read by the library (CMakeLists.txt), the fuzz build
# (fuzz/CMakeLists.txt) and scripts/lint.sh. A file that is not named here is not built: there is
# no glob, so a new folder cannot be skipped by one of them and built by another. scripts/lint.sh
# fails when a .c or .h under src/ is missing from this list.
#
# Included, it sets MPROC_SOURCES_FRONT, MPROC_SOURCES_POSIX, MPROC_SOURCES_WIN32 (paths relative
# to the project root), the matching MPROC_HEADERS_* lists, and MPROC_HEADERS_PUBLIC: the
# installed headers under include/ (mproc.h includes the others). As a script it prints one list:
#   cmake -DMPROC_PRINT=win32 -P cmake/MprocSources.cmake
#   (front, posix, win32, mpi; each +_headers; public, public_mpi)

set(MPROC_HEADERS_PUBLIC
    include/mproc.h
    include/mproc/ipc.h
    include/mproc/sync.h)

set(MPROC_SOURCES_FRONT
    src/alloc.c
    src/buf.c
    src/child.c
    src/error.c
    src/fn.c
    src/init.c
    src/ipc/pipe.c
    src/ipc/pipe_ring.c
    src/ipc/queue.c
    src/ipc/queue_big.c
    src/ipc/queue_get.c
    src/ipc/queue_put.c
    src/ipc/queue_redo.c
    src/ipc/queue_ring.c
    src/ipc/queue_share.c
    src/ipc/queue_wait.c
    src/ipc/share.c
    src/ipc/shm.c
    src/marker.c
    src/pool/async.c
    src/pool/boot.c
    src/pool/chunk.c
    src/pool/core.c
    src/pool/death.c
    src/pool/dispatch.c
    src/pool/handle.c
    src/pool/iter.c
    src/pool/lazy.c
    src/pool/lend.c
    src/pool/map.c
    src/pool/pool.c
    src/pool/remote.c
    src/pool/remote_host.c
    src/pool/results.c
    src/pool/ring.c
    src/pool/spare.c
    src/pool/start.c
    src/pool/stats.c
    src/pool/task.c
    src/pool/tasklist.c
    src/pool/thread.c
    src/pool/worker.c
    src/process.c
    src/runtime.c
    src/sync/barrier.c
    src/sync/cond.c
    src/sync/event.c
    src/sync/lock.c
    src/sync/sem.c
    src/sync/share.c
    src/sync/sync.c
    src/sync/wait.c
    src/wire.c)
set(MPROC_HEADERS_FRONT
    src/backend.h
    src/child.h
    src/ipc/conn.h
    src/ipc/pipe.h
    src/ipc/pipe_ring.h
    src/ipc/queue.h
    src/ipc/queue_in.h
    src/ipc/share.h
    src/marker.h
    src/pool/engine.h
    src/pool/pool.h
    src/pool/remote.h
    src/pool/ring.h
    src/pool/tasklist.h
    src/pool/worker.h
    src/runtime.h
    src/sync/sync.h
    src/sync/waitable.h
    src/testhooks.h
    src/util.h
    src/wire.h)

set(MPROC_SOURCES_POSIX
    src/posix/child.c
    src/posix/conn.c
    src/posix/defaults.c
    src/posix/exe.c
    src/posix/fn.c
    src/posix/lock.c
    src/posix/loop.c
    src/posix/os.c
    src/posix/pipe.c
    src/posix/process.c
    src/posix/queue_os.c
    src/posix/share.c
    src/posix/shm.c
    src/posix/sync.c
    src/posix/thread.c
    src/posix/wait.c)
set(MPROC_HEADERS_POSIX
    src/posix/posix.h)

set(MPROC_SOURCES_WIN32
    src/win32/child.c
    src/win32/conn.c
    src/win32/defaults.c
    src/win32/fn.c
    src/win32/lock.c
    src/win32/loop.c
    src/win32/os.c
    src/win32/pipe.c
    src/win32/process.c
    src/win32/queue_os.c
    src/win32/share.c
    src/win32/shm.c
    src/win32/sync.c
    src/win32/thread.c
    src/win32/wait.c)
set(MPROC_HEADERS_WIN32
    src/win32/win32.h)

# The MPI component (library mproc_mpi, built with MPROC_WITH_MPI): it reaches the core only
# through mproc__remote_core() (src/pool/remote.h). Its public header is not mproc.h's.
set(MPROC_SOURCES_MPI
    src/mpi/init.c
    src/mpi/master.c
    src/mpi/msg.c
    src/mpi/serve.c)
set(MPROC_HEADERS_MPI
    src/mpi/transport.h)
set(MPROC_HEADERS_PUBLIC_MPI
    include/mproc_mpi.h)

if(CMAKE_SCRIPT_MODE_FILE AND DEFINED MPROC_PRINT)
    string(TOUPPER "${MPROC_PRINT}" _mproc_print)
    if(_mproc_print STREQUAL "PUBLIC")
        set(_mproc_list ${MPROC_HEADERS_PUBLIC})
    elseif(_mproc_print STREQUAL "PUBLIC_MPI")
        set(_mproc_list ${MPROC_HEADERS_PUBLIC_MPI})
    elseif(_mproc_print MATCHES "^(FRONT|POSIX|WIN32|MPI)_HEADERS$")
        string(REGEX REPLACE "_HEADERS$" "" _mproc_print "${_mproc_print}")
        set(_mproc_list ${MPROC_HEADERS_${_mproc_print}})
    elseif(_mproc_print MATCHES "^(FRONT|POSIX|WIN32|MPI)$")
        set(_mproc_list ${MPROC_SOURCES_${_mproc_print}})
    else()
        message(FATAL_ERROR
                "MPROC_PRINT: public, public_mpi, or front, posix, win32 or mpi optionally with _headers")
    endif()
    foreach(_f IN LISTS _mproc_list)
        execute_process(COMMAND "${CMAKE_COMMAND}" -E echo "${_f}")
    endforeach()
endif()
