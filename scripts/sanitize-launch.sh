#!/usr/bin/env bash
# The suites' launcher under scripts/sanitize.sh: CTest runs every suite as
#   sanitize-launch.sh KIND COMMAND...
# (CMAKE_CROSSCOMPILING_EMULATOR, or CMAKE_TEST_LAUNCHER from CMake 3.29 on), and this adds the
# options of KIND (asan, tsan, valgrind) to the ones CTest set, then runs the command. So nothing
# in tests/ has to know. MPROC_SANITIZE_LOG_DIR (set by sanitize.sh) is where every report of
# every process goes, the children's included.
set -uo pipefail
scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ $# -lt 2 ]; then
    echo "usage: sanitize-launch.sh asan|tsan|valgrind COMMAND..." >&2
    exit 2
fi
kind=$1
shift
# A report in a pool worker or a child only changes that process's exit code, which a test may
# never look at: sanitize.sh checks the files after the run instead.
logs=${MPROC_SANITIZE_LOG_DIR-}
case "$kind" in
asan)
    # halt_on_error: ASan's default too, and UBSan stops anyway (-fno-sanitize-recover).
    # One log_path for both: clang builds them into one runtime, which reads both options.
    asan="halt_on_error=1:detect_leaks=1${logs:+:log_path=$logs/asan}"
    ubsan="print_stacktrace=1:halt_on_error=1${logs:+:log_path=$logs/asan}"
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}$asan"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}$ubsan"
    # clang-19's runtime does not find llvm-symbolizer in PATH by itself ("invalid path to
    # external symbolizer": a report with bare addresses); any of these reads its DWARF, and
    # binutils' addr2line is always there with gcc.
    if [ -z "${ASAN_SYMBOLIZER_PATH-}" ]; then
        for s in llvm-symbolizer-19 llvm-symbolizer llvm-symbolizer-14 addr2line; do
            if s=$(command -v "$s"); then
                export ASAN_SYMBOLIZER_PATH=$s
                break
            fi
        done
    fi
    ;;
tsan)
    # die_after_fork=0: with the fork start method a child is a fork of a parent that has
    # threads (the pool's, the suites' own). TSan by default kills such a child as soon as
    # it starts a thread, because its own bookkeeping of the parent's threads is copied
    # into the child; glibc supports it (as Python's multiprocessing relies on). Not
    # enough for every case (see tsan_spawn_only below), but a child that only runs a
    # pool worker or a target is checked instead of killed.
    opts="halt_on_error=1:second_deadlock_stack=1:die_after_fork=0${logs:+:log_path=$logs/tsan}"
    [ -f "$scripts/tsan.supp" ] && opts="$opts:suppressions=$scripts/tsan.supp"
    export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}$opts"
    ;;
valgrind)
    # The suites relax what valgrind's slowness or its exec of /proc/self/exe cannot meet.
    export MPROC_TEST_VALGRIND=1
    # No payload areas: valgrind shadows every byte of a worker's 512 MiB reservation, which
    # made test_pool run past its limit; the areas' own path is ASan's and TSan's to check.
    export MPROC_NO_PAYLOAD_AREAS=1
    # Only the leaks that are errors are shown: a forked worker ends with _exit and the
    # parent's thread it was forked from is not there, so every worker would list that
    # thread's TLS block as "possibly lost". valgrind.supp: the suites' deliberate crashes.
    # Without -q a log ends with its ERROR SUMMARY, which run_suites reads.
    # shellcheck disable=SC2054 # the commas are valgrind's list syntax
    vg=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect
        --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --trace-children=no
        --num-callers=40 "--suppressions=$scripts/valgrind.supp")
    if [ -n "$logs" ]; then
        exec "${vg[@]}" "--log-file=$logs/valgrind.%p" "$@"
    fi
    exec "${vg[@]}" -q "$@"
    ;;
*)
    echo "sanitize-launch.sh: unknown kind '$kind'" >&2
    exit 2
    ;;
esac
exec "$@"
