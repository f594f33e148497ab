#!/usr/bin/env bash
# Runs the Linux suites under the sanitizers and valgrind, and the fuzz harness for a moment.
# Installs what is missing on a Debian 12 machine when run as root.
#
#   ./scripts/sanitize.sh              all four parts, in this order:
#     --asan      ASan+UBSan (build/asan, clang-19): every suite, fork and spawn columns
#     --tsan      TSan (build/tsan): every suite, fork column (but see below)
#     --valgrind  memcheck (build/valgrind, no sanitizer): test_process and test_pool, fork column
#     --fuzz      fuzz/ (build/fuzz, clang + libFuzzer): the harness for 30 s, a smoke test; the
#                 5-minute run is `cmake --build build/fuzz --target fuzz` (fuzz/README.md)
#   Options combine: ./scripts/sanitize.sh --asan --fuzz
# CI (.ci/run) runs all four, between the lint and scripts/test.sh. Exits non-zero when a suite
# fails, a build fails, the fuzzer crashes, or any process reported anything (below).
#
# Environment: MPROC_SANITIZE_JOBS (ctest and build parallelism, default 2),
# MPROC_FUZZ_SMOKE_SECONDS (default 30), MPROC_SOAK_TASKS (test_soak's task count, default its
# own 20 000: the soak runs as fast under ASan and TSan as without), MPROC_SANITIZE_CC (the C
# compiler of the three builds; default clang-19 for asan, CMake's choice, gcc on Debian, for
# tsan and valgrind).
#
# Why clang-19 for ASan: an ASan runtime older than LLVM 18 (gcc 12's libasan, clang 14's) does
# not lock its allocator around fork. A child forked while another thread of the parent is inside
# malloc then waits forever for that lock at its own first malloc: with the fork start method the
# pool thread forks workers while the caller allocates, and test_inherit_fork and test_pool_fork
# hung that way (one run in a few dozen). LLVM 18's runtime takes the lock in a pthread_atfork
# handler; Debian 12 has clang-19 (bookworm's updates), and this script installs it. clang's
# UBSan also checks more than gcc's (e.g. arithmetic on a null pointer).
#
# Reports: every sanitizer report and every valgrind log, of the suite's process and of every
# child and worker it starts, goes to a file under <build>/reports-<part>/ (ASan's, UBSan's and
# TSan's log_path; valgrind's --log-file). A report in a worker only changes that worker's exit
# code, which no test may look at, so after each ctest run any report file (for valgrind: a log
# whose ERROR SUMMARY is not 0) is printed and fails the part, whatever the suites said.
#
# Each suite runs through CTest's own registration (tests/CMakeLists.txt: its labels, timeouts
# and environment, including ASAN_OPTIONS=handle_segv=0:handle_abort=0 so a child still dies by
# the real signal). This script is the suites' launcher (CMAKE_CROSSCOMPILING_EMULATOR, or
# CMAKE_TEST_LAUNCHER from CMake 3.29 on): `sanitize.sh --launch KIND COMMAND...` adds its options
# to the ones CTest set and runs the command, so nothing in tests/ has to know.
#
# Left out, on purpose (time; the rest covers it):
#   - TSan, spawn column: the parent's threads do the same under both columns (only the start
#     differs), and a spawned child is single-threaded; ASan covers the spawn column. Except the
#     suites of tsan_spawn_only (below), which TSan runs in the spawn column instead of the fork
#     one, and of tsan_spawn_also, which it runs in both. TSan limitations, not races: a child
#     forked from a process with threads starts pools of its own (test_badinput's isolated
#     rows), and TSan stops it ("dup thread with used id": the thread ids it copied from the
#     parent are reused) even with die_after_fork=0; and in such a child TSan turns its
#     interceptors off, so a signal handler never runs (it waits for an interceptor to deliver
#     it): test_process's daemon started from a thread never acts on its parent-death signal,
#     so test_thread_daemon_dies_with_parent skips itself under TSan with fork, and runs in the
#     spawn column.
#   - TSan, test_process_nopidfd: the exit-pipe fallback is single-threaded; ASan covers it, and
#     so does valgrind (valgrind 3.19 has no pidfd_open, so mproc takes the fallback there).
#   - valgrind, spawn column: mproc spawns /proc/self/exe, which under valgrind is valgrind's
#     own tool binary ("You cannot run ... directly"), whatever --trace-children says.
#   - the packaging tests (label consumer): not about memory; configured out (MPROC_INSTALL=OFF).
set -uo pipefail

self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
scripts=$(dirname "$self")

# ---- the launcher: one suite run, as CTest calls it -------------------------------------------
if [ "${1-}" = "--launch" ]; then
    kind=${2-}
    shift 2
    # MPROC_SANITIZE_LOG_DIR (set by run_suites below): every report of every process goes to a
    # file there, the children's included. A report in a pool worker or a child only changes
    # that process's exit code, which a test may never look at; the files are checked after
    # the run instead.
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
        echo "sanitize.sh --launch: unknown kind '$kind'" >&2
        exit 2
        ;;
    esac
    exec "$@"
fi

root=$(cd "$scripts/.." && pwd)
cd "$root" || exit 1
# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"

usage() {
    sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$self"
}

parts=()
while [ $# -gt 0 ]; do
    case "$1" in
    --asan | --tsan | --valgrind | --fuzz) parts+=("${1#--}") ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
    shift
done
[ ${#parts[@]} -eq 0 ] && parts=(asan tsan valgrind fuzz)
want() {
    [[ " ${parts[*]} " == *" $1 "* ]]
}

# ---- what to install ---------------------------------------------------------------------------
mproc_deps build tests
extra=()
if want valgrind; then
    command -v valgrind >/dev/null 2>&1 || extra+=(valgrind)
fi
asan_cc=${MPROC_SANITIZE_CC:-clang-19}
if want asan && [ -z "${MPROC_SANITIZE_CC-}" ]; then
    command -v clang-19 >/dev/null 2>&1 || extra+=(clang-19)
    # The sanitizer runtimes: only recommended by clang-19.
    mproc_have_pkg libclang-rt-19-dev || extra+=(libclang-rt-19-dev)
fi
if want fuzz; then
    command -v clang >/dev/null 2>&1 || extra+=(clang)
    # libFuzzer's runtime: only recommended by clang, so --no-install-recommends leaves it out.
    mproc_have_pkg libclang-rt-dev || extra+=(libclang-rt-dev)
fi
if [ ${#extra[@]} -gt 0 ]; then
    if ! mproc_is_root; then
        echo "Missing packages: ${extra[*]}" >&2
        echo "  sudo sh -c 'apt-get update &&" \
            "apt-get install -y --no-install-recommends ${extra[*]}'" >&2
        exit 1
    fi
    echo "==> installing ${extra[*]}"
    if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${extra[@]}"; }; then
        echo "error: could not install ${extra[*]}" >&2
        exit 1
    fi
fi

jobs=${MPROC_SANITIZE_JOBS:-2}
# TSan: suites it runs in the spawn column instead of the fork one, and as well (see the top of
# this file).
tsan_spawn_only="test_badinput"
tsan_spawn_also="test_process"
summary=()
total_passed=0
total_failed=0
start_all=$(date +%s)

# CMake 3.29 stopped putting the emulator before native tests (policy CMP0158, for projects that
# ask for it) and added CMAKE_TEST_LAUNCHER for this.
launcher_var() {
    local v
    v=$(cmake --version | sed -n 's/^cmake version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
    read -r major minor <<<"$v"
    if [ "${major:-3}" -gt 3 ] || { [ "${major:-3}" -eq 3 ] && [ "${minor:-0}" -ge 29 ]; }; then
        echo CMAKE_TEST_LAUNCHER
    else
        echo CMAKE_CROSSCOMPILING_EMULATOR
    fi
}

# record PART SECONDS PASSED FAILED [NOTE]
record() {
    total_passed=$((total_passed + $3))
    total_failed=$((total_failed + $4))
    summary+=("$(printf '%-12s %4d s  %d passed, %d failed%s' "$1:" "$2" "$3" "$4" "${5:+  ($5)}")")
}

# build_suites DIR KIND CC [CMAKE ARGS...]: configures and builds one Linux build with the
# launcher; CC empty: CMake's choice of compiler.
build_suites() {
    local dir=$1 kind=$2 cc=$3
    shift 3
    echo
    echo "==> $kind: configure and build ($dir)"
    cmake -S "$root" -B "$root/$dir" -DCMAKE_BUILD_TYPE=Debug -DMPROC_WERROR=ON \
        -DMPROC_BUILD_TESTS=ON -DMPROC_BUILD_EXAMPLES=OFF -DMPROC_BUILD_BENCH=OFF \
        -DMPROC_BUILD_FUZZ=OFF -DMPROC_INSTALL=OFF \
        ${cc:+"-DCMAKE_C_COMPILER=$cc"} \
        "-D$(launcher_var)=$self;--launch;$kind" "$@" &&
        cmake --build "$root/$dir" -j "$jobs"
}

# run_suites PART DIR T0 CTEST-ARGS...: runs ctest, records the outcome and the time since T0
# (the build's start).
run_suites() {
    local part=$1 dir=$2 t0=$3
    shift 3
    local log="$root/$dir/sanitize-$part.log" logs="$root/$dir/reports-$part" rc total failed
    local reports=0 f
    echo
    echo "==> $part: ctest $*"
    rm -rf "$logs"
    mkdir -p "$logs"
    MPROC_SANITIZE_LOG_DIR=$logs \
        ctest --test-dir "$root/$dir" --output-on-failure --no-tests=error "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    # A sanitizer writes a file only to report; valgrind writes one per process, and it reports
    # when its ERROR SUMMARY is not 0 (a process killed by SIGKILL has no summary: nothing ran
    # to the end to check).
    for f in "$logs"/*; do
        [ -s "$f" ] || continue
        case "$f" in
        */valgrind.*) grep -q 'ERROR SUMMARY: [1-9]' "$f" || continue ;;
        esac
        reports=$((reports + 1))
        echo
        echo "==> $part: report in ${f#"$root"/}"
        head -n 200 "$f"
    done
    total=$(sed -n 's/.*tests failed out of \([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
    failed=$(sed -n 's/.* \([0-9][0-9]*\) tests failed out of.*/\1/p' "$log" | tail -n 1)
    total=${total:-0}
    failed=${failed:-0}
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        failed=1 # ctest itself failed (no test, a crash of ctest)
    fi
    if [ "$reports" -gt 0 ]; then
        # The suites may all have passed: the reports fail the part all the same.
        record "$part" $(($(date +%s) - t0)) $((total - failed)) $((failed + 1)) \
            "$reports process(es) reported: ${logs#"$root"/}"
    else
        record "$part" $(($(date +%s) - t0)) $((total - failed)) "$failed"
    fi
}

if want asan; then
    t0=$(date +%s)
    if build_suites build/asan asan "$asan_cc" "-DMPROC_SANITIZE=address;undefined"; then
        echo "    (build: $(($(date +%s) - t0)) s)"
        # Both columns in one run, so the longest suite (the soak) overlaps the others.
        run_suites asan build/asan "$t0" -L '^(fork|spawn)$' -LE consumer -j "$jobs"
    else
        record asan $(($(date +%s) - t0)) 0 1 "build failed"
    fi
fi

if want tsan; then
    t0=$(date +%s)
    if build_suites build/tsan tsan "${MPROC_SANITIZE_CC-}" -DMPROC_SANITIZE=thread; then
        echo "    (build: $(($(date +%s) - t0)) s)"
        run_suites tsan build/tsan "$t0" -L '^fork$' -LE consumer \
            -E "nopidfd|$tsan_spawn_only" -j "$jobs"
        run_suites tsan-spawn build/tsan "$(date +%s)" \
            -R "^($tsan_spawn_only|$tsan_spawn_also)_spawn\$" -j "$jobs"
    else
        record tsan $(($(date +%s) - t0)) 0 1 "build failed"
    fi
fi

if want valgrind; then
    t0=$(date +%s)
    if build_suites build/valgrind valgrind "${MPROC_SANITIZE_CC-}" -DMPROC_SANITIZE=; then
        echo "    (build: $(($(date +%s) - t0)) s)"
        # One at a time: valgrind slows everything down ~20 times, and the pool suite has
        # timing bounds that a loaded machine would not meet.
        run_suites valgrind build/valgrind "$t0" -R '^test_(process|pool)_fork$' -j 1
    else
        record valgrind $(($(date +%s) - t0)) 0 1 "build failed"
    fi
fi

if want fuzz; then
    t0=$(date +%s)
    echo
    echo "==> fuzz: configure and build (build/fuzz, clang)," \
        "then ${MPROC_FUZZ_SMOKE_SECONDS:-30} s of fuzzing"
    log="$root/build/fuzz/sanitize-fuzz.log"
    mkdir -p "$root/build/fuzz"
    cc=$(command -v clang || command -v clang-14 || echo clang)
    # pipefail: the build's status, not tee's.
    if cmake -S "$root/fuzz" -B "$root/build/fuzz" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DMPROC_FUZZ_SMOKE_SECONDS="${MPROC_FUZZ_SMOKE_SECONDS:-30}" &&
        cmake --build "$root/build/fuzz" -j "$jobs" --target fuzz_wire &&
        cmake --build "$root/build/fuzz" --target fuzz_smoke 2>&1 | tee "$log"; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
        record fuzz $(($(date +%s) - t0)) 1 0 "${runs:-?} inputs, no crash"
    else
        record fuzz $(($(date +%s) - t0)) 0 1 "crash or build failure: see build/fuzz/artifacts/"
    fi
fi

echo
echo "==> summary ($(($(date +%s) - start_all)) s)"
for line in "${summary[@]}"; do
    echo "$line"
done
echo "sanitize: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
