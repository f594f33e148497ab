#!/usr/bin/env bash
# Runs the Linux suites under the sanitizers and valgrind, and the fuzz harness for a moment.
# Installs what is missing on a Debian 12 machine when run as root.
#
#   ./scripts/sanitize.sh              all four parts, in this order:
#     --asan      ASan+UBSan (build/sanitize/asan, clang-19): every suite, fork and spawn columns
#     --tsan      TSan (build/sanitize/tsan): every suite, fork column (but see below)
#     --valgrind  memcheck (build/sanitize/valgrind, no sanitizer): test_process and test_pool, fork column
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
# the real signal), with scripts/sanitize-launch.sh as the launcher that adds each kind's options.
# The builds live in build/sanitize/, apart from the folders CMakePresets.json owns (build/asan,
# build/tsan are presets with other settings).
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
#   - TSan, test_queue (tsan_skip, below): a limitation again; ASan covers it.
#   - TSan, test_process_nopidfd: the exit-pipe fallback is single-threaded; ASan covers it, and
#     so does valgrind (valgrind 3.19 has no pidfd_open, so mproc takes the fallback there).
#   - valgrind, spawn column: mproc spawns /proc/self/exe, which under valgrind is valgrind's
#     own tool binary ("You cannot run ... directly"), whatever --trace-children says.
#   - the packaging tests (label consumer): not about memory; configured out (MPROC_INSTALL=OFF).
set -uo pipefail

scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
launch="$scripts/sanitize-launch.sh"

root=$(cd "$scripts/.." && pwd)
cd "$root" || exit 1
# shellcheck source=scripts/common.sh
. "$root/scripts/common.sh"

parts=()
option() {
    case "$1" in
    --asan | --tsan | --valgrind | --fuzz) parts+=("${1#--}") ;;
    *) return 1 ;;
    esac
}
mproc_parse_args option "$@"
[ ${#parts[@]} -eq 0 ] && parts=(asan tsan valgrind fuzz)
want() {
    [[ " ${parts[*]} " == *" $1 "* ]]
}

# ---- what to install ---------------------------------------------------------------------------
groups=(build tests)
want valgrind && groups+=(valgrind)
asan_cc=${MPROC_SANITIZE_CC:-clang-19}
want asan && [ -z "${MPROC_SANITIZE_CC-}" ] && groups+=(asan)
want fuzz && groups+=(fuzz)
mproc_deps "${groups[@]}"

jobs=${MPROC_SANITIZE_JOBS:-2}
# TSan: suites it runs in the spawn column instead of the fork one, and as well (see the top of
# this file).
tsan_spawn_only="test_badinput"
tsan_spawn_also="test_process"
# TSan: suites it cannot run at all. test_queue's producers are killed holding the queue's
# process-shared robust mutex; the parent then takes it with EOWNERDEAD from
# pthread_mutex_timedlock, and TSan (gcc 12's runtime), which models no other process's hold
# and no owner-death hand-over through timedlock, reports the parent's unlock as "unlock of an
# unlocked mutex". ASan+UBSan runs the suite in both columns.
tsan_skip="test_queue"
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
    mproc_summary_add "$(printf '%-12s %4d s  %d passed, %d failed%s' "$1:" "$2" "$3" "$4" "${5:+  ($5)}")"
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
        "-D$(launcher_var)=$launch;$kind" "$@" &&
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
    if build_suites build/sanitize/asan asan "$asan_cc" "-DMPROC_SANITIZE=address;undefined"; then
        echo "    (build: $(($(date +%s) - t0)) s)"
        # Both columns in one run, so the longest suite (the soak) overlaps the others.
        run_suites asan build/sanitize/asan "$t0" -L '^(fork|spawn)$' -LE consumer -j "$jobs"
    else
        record asan $(($(date +%s) - t0)) 0 1 "build failed"
    fi
fi

if want tsan; then
    t0=$(date +%s)
    if build_suites build/sanitize/tsan tsan "${MPROC_SANITIZE_CC-}" -DMPROC_SANITIZE=thread; then
        echo "    (build: $(($(date +%s) - t0)) s)"
        run_suites tsan build/sanitize/tsan "$t0" -L '^fork$' -LE consumer \
            -E "nopidfd|$tsan_spawn_only|$tsan_skip" -j "$jobs"
        run_suites tsan-spawn build/sanitize/tsan "$(date +%s)" \
            -R "^($tsan_spawn_only|$tsan_spawn_also)_spawn\$" -j "$jobs"
    else
        record tsan $(($(date +%s) - t0)) 0 1 "build failed"
    fi
fi

if want valgrind; then
    t0=$(date +%s)
    if build_suites build/sanitize/valgrind valgrind "${MPROC_SANITIZE_CC-}" -DMPROC_SANITIZE=; then
        echo "    (build: $(($(date +%s) - t0)) s)"
        # One at a time: valgrind slows everything down ~20 times, and the pool suite has
        # timing bounds that a loaded machine would not meet.
        run_suites valgrind build/sanitize/valgrind "$t0" -R '^test_(process|pool)_fork$' -j 1
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

mproc_summary_print "summary ($(($(date +%s) - start_all)) s)"
echo "sanitize: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
