#!/usr/bin/env bash
# Runs one MPI test (tests/mpi/CMakeLists.txt) and checks its outcome:
#   run.sh suite EXE | example EXE | mismatch EXE_A EXE_B | kill EXE [return] | dynamic EXE
# mpiexec gets what this machine needs: --allow-run-as-root as root, --oversubscribe (more ranks
# than cores), --bind-to none (ranks share the cores). Every run is bounded by `timeout`.
set -u
mode=$1
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT

flags=(--oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && flags+=(--allow-run-as-root)
# The environment's MPROC_START_METHOD is not the test's business.
unset MPROC_START_METHOD

fail() {
    echo "FAIL: $*"
    echo "---- output ----"
    cat "$out"
    exit 1
}

# run LIMIT_S CMD...: runs with a bound, output in $out; sets rc and secs.
run() {
    local limit=$1 t0
    shift
    t0=$(date +%s)
    timeout -k 10 "$limit" "$@" >"$out" 2>&1
    rc=$?
    secs=$(($(date +%s) - t0))
    if [ "$rc" = 124 ] || [ "$secs" -ge "$limit" ]; then
        fail "no end within ${limit}s: $*"
    fi
    return 0
}

case "$mode" in
suite)
    run 200 mpiexec "${flags[@]}" -n 3 "$1"
    cat "$out"
    [ "$rc" = 0 ] || fail "the suite ended with $rc"
    grep -q "PASSED" "$out" || fail "no PASSED line"
    ;;
example)
    run 100 mpiexec "${flags[@]}" -n 3 "$1"
    cat "$out"
    [ "$rc" = 0 ] || fail "exit $rc"
    grep -qx "map: sum of squares of 0..99 = 328350" "$out" || fail "wrong sum"
    grep -qx "imap_unordered: 10 results" "$out" || fail "wrong imap count"
    grep -qx "map: rank 1 served" "$out" && grep -qx "map: rank 2 served" "$out" ||
        fail "not every rank served"
    ;;
mismatch)
    # Rank 0 runs one build, ranks 1 and 2 another: every rank refuses, none serves.
    run 100 mpiexec "${flags[@]}" -n 1 "$1" init : -n 2 "$2" init
    cat "$out"
    [ "$(grep -c "mproc_mpi_init: MPROC_EMISMATCH: 2 of the 3 ranks run another build" "$out")" = 3 ] ||
        fail "not every rank refused with MPROC_EMISMATCH"
    # The same build everywhere passes the check: rank 0 returns (the others serve, and exit 0
    # when it ends).
    run 100 mpiexec "${flags[@]}" -n 3 "$1" init
    cat "$out"
    [ "$rc" = 0 ] || fail "one build: exit $rc"
    [ "$(grep -c "mproc_mpi_init: MPROC_OK" "$out")" = 1 ] || fail "one build: rank 0 did not pass"
    ;;
kill)
    # A task kills its rank (SIGKILL to the rank, its worker's parent). HOW: default (Open MPI's
    # error handler), return (MPI_ERRORS_RETURN on MPI_COMM_WORLD) or recovery (that, and
    # mpiexec --enable-recovery). Open MPI 4 ends the whole job in the first two: mpiexec exits
    # nonzero naming the rank, rank 0 included, within seconds. Under recovery the job lives on:
    # rank 0 takes the rank for dead after 10 s of silence, the task fails with
    # MPROC_EWORKER_LOST, and the job ends normally. Nothing may be left behind.
    how=${2:-default}
    # The last argument marks this run's processes (another run may go on beside it).
    mark="mark$$"
    extra=()
    [ "$how" = recovery ] && extra=(--enable-recovery)
    run 120 mpiexec "${flags[@]}" "${extra[@]}" -n 3 "$1" kill "$([ "$how" = default ] || echo return)" "$mark"
    cat "$out"
    echo "(ended with $rc after ${secs}s)"
    if [ "$how" = recovery ]; then
        grep -qx "rank 0 lived on: wait MPROC_OK, task MPROC_EWORKER_LOST" "$out" ||
            fail "rank 0 did not see the task fail with MPROC_EWORKER_LOST"
    else
        [ "$rc" != 0 ] || fail "the job succeeded"
        grep -q "rank 0 lived on" "$out" && fail "rank 0 outlived its rank's death (documented: it does not)"
        grep -Eq "exited on signal 9|killed|terminated" "$out" || fail "mpiexec said nothing of the dead rank"
    fi
    [ "$secs" -lt 60 ] || fail "took ${secs}s"
    sleep 1
    if pgrep -f -- "$mark" >/dev/null; then
        fail "processes left: $(pgrep -af -- "$mark")"
    fi
    ;;
dynamic)
    # No mpiexec: a singleton that spawns its two serving ranks.
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export OMPI_MCA_rmaps_base_oversubscribe=1
    run 100 "$1" dynamic 20
    cat "$out"
    [ "$rc" = 0 ] || fail "exit $rc"
    grep -qx "ranks: 2" "$out" || fail "not two spawned ranks"
    [ "$(grep -c "^answer: rank [12] " "$out")" = 20 ] || fail "not 20 answers from ranks 1-2"
    grep -q "^answer: rank 1 " "$out" && grep -q "^answer: rank 2 " "$out" || fail "a rank idle"
    ;;
*)
    echo "usage: run.sh suite|example|mismatch|kill|dynamic EXE..." >&2
    exit 2
    ;;
esac
echo "ok: $mode"
