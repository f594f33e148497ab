#!/usr/bin/env bash
# Builds mproc_bench (Release, in build/bench), runs every figure of it, the OS floors and
# Python's multiprocessing on the same work in the same run, and prints the table of
# bench/README.md with the targets of issue 4.
#
#   bench/run.sh           Linux: mproc, Python, OS floors (about 5 minutes on 2 cores)
#   bench/run.sh --wine    also the MinGW-w64 build's Windows figures under Wine (+ ~2 minutes)
#
# Each figure runs in a fresh process (a clean peak RSS; forks of a small parent), mproc first,
# then Python, figure by figure, so a drift of the machine hits both alike. A figure that fails
# or exceeds its time limit shows as FAILED or TIMEOUT in the table and makes the exit status 1.
# Raw output: build/bench/results/ (mproc.tsv, python.tsv, wine.tsv, *.err, table.md).
#
# Environment: MPROC_BENCH_BUILD (default build/bench), PYTHON (default python3),
# MPROC_WINE (default /usr/lib/wine/wine64).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench="$root/bench"
build=${MPROC_BENCH_BUILD:-$root/build/bench}
build_mingw="$build-mingw"
python=${PYTHON:-python3}
wine=${MPROC_WINE:-/usr/lib/wine/wine64}
jobs=$(nproc 2>/dev/null || echo 2)

do_wine=0
while [ $# -gt 0 ]; do
    case "$1" in
    --wine) do_wine=1 ;;
    -h | --help)
        sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *)
        echo "usage: $0 [--wine]" >&2
        exit 2
        ;;
    esac
    shift
done

for tool in cmake "$python"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "run.sh: $tool not found (Debian: apt-get install cmake gcc python3)" >&2
        exit 1
    fi
done

# The library's defaults, whatever the calling shell exported.
unset MPROC_START_METHOD MPROC_NO_PIDFD

configure_args=(-DCMAKE_BUILD_TYPE=Release -DMPROC_BUILD_BENCH=ON -DMPROC_BUILD_TESTS=OFF
    -DMPROC_BUILD_EXAMPLES=OFF -DMPROC_INSTALL=OFF)

echo "==> building mproc_bench (Release) in $build"
mkdir -p "$build"
if ! cmake -S "$root" -B "$build" "${configure_args[@]}" >"$build/configure.log" 2>&1; then
    cat "$build/configure.log" >&2
    exit 1
fi
if ! cmake --build "$build" --target mproc_bench -j "$jobs" >"$build/build.log" 2>&1; then
    cat "$build/build.log" >&2
    exit 1
fi
exe="$build/bin/mproc_bench"
[ -x "$exe" ] || exe=$(find "$build" -name mproc_bench -type f -perm -u+x | head -n 1)

out="$build/results"
mkdir -p "$out"
: >"$out/mproc.tsv"
: >"$out/python.tsv"
: >"$out/mproc.err"
: >"$out/python.err"
status=0

# run FILE LIMIT NAME COMMAND...: appends the command's lines to FILE; on failure a line
# "NAME<TAB>FAILED|TIMEOUT" instead of a value, and the reason on stderr.
run() {
    local file=$1 limit=$2 name=$3 rc before
    shift 3
    before=$(wc -l <"$file")
    timeout --kill-after=10 "$limit" "$@" >>"$file" 2>>"${file%.tsv}.err"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        status=1
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            printf '%s\tTIMEOUT\t%ss\n' "$name" "$limit" >>"$file"
            echo "run.sh: $* timed out after ${limit}s" >&2
        else
            printf '%s\tFAILED\texit %s\n' "$name" "$rc" >>"$file"
            echo "run.sh: $* failed (exit $rc); see ${file%.tsv}.err" >&2
        fi
    fi
    tail -n +"$((before + 1))" "$file" | grep -v '^#' | sed 's/^/    /'
}

# The figures are only as good as the machine is quiet: the load average goes into the output.
load() {
    cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?'
}
busy() {
    awk -v l="$(load)" -v n="$(nproc)" 'BEGIN { exit !(l != "?" && l > 0.5 * n) }'
}

echo "==> machine: $(nproc) CPUs, $(uname -sr); $("$python" --version 2>&1); load $(load)"
{
    echo "# machine: $(nproc) CPUs, $(uname -sr)"
    echo "# mproc $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')"
    echo "# load: $(load) at start"
} >>"$out/mproc.tsv"
if busy; then
    echo "run.sh: warning: load average $(load) on $(nproc) CPUs: other work is running and the" \
        "figures will be noisy" >&2
fi

# Each row's OS floor runs right before its mproc figure, and Python right after: what drifts on
# the machine during the run hits the three of them alike.
floor_of() {
    case "$1" in
    process_fork) echo floor_fork ;;
    process_spawn) echo floor_posix_spawn ;;
    apply_async) echo floor_pipe_pipelined ;;
    apply) echo floor_pipe_rtt ;;
    result_64mib) echo floor_pipe_64mib ;;
    esac
}

echo "==> figures: OS floor, mproc, Python"
# imap_peak_rss and imap_rss_growth come with imap.
for f in process_fork process_spawn apply_async apply map_chunk1 map_auto pool_lifecycle \
    result_64mib imap; do
    echo "  $f"
    floor=$(floor_of "$f")
    if [ -n "$floor" ]; then
        run "$out/mproc.tsv" 300 "$floor" "$exe" "$floor"
    fi
    run "$out/mproc.tsv" 300 "$f" "$exe" "$f"
    run "$out/python.tsv" 600 "$f" "$python" "$bench/python_baseline.py" "$f"
done

tables=("$out/mproc.tsv" "$out/python.tsv")

if [ "$do_wine" = 1 ]; then
    echo "==> Windows build (MinGW-w64) in $build_mingw, run under Wine"
    : >"$out/wine.tsv"
    : >"$out/wine.err"
    if [ ! -x "$wine" ] && ! wine=$(command -v wine64 || command -v wine); then
        echo "run.sh: no Wine loader (Debian: apt-get install wine64)" >&2
        status=1
    elif ! cmake -S "$root" -B "$build_mingw" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64.cmake" \
        "${configure_args[@]}" >"$out/mingw-build.log" 2>&1 ||
        ! cmake --build "$build_mingw" --target mproc_bench -j "$jobs" >>"$out/mingw-build.log" 2>&1; then
        cat "$out/mingw-build.log" >&2
        echo "run.sh: the MinGW-w64 build failed (Debian: apt-get install gcc-mingw-w64-x86-64)" >&2
        status=1
    else
        export WINEDEBUG=-all WINEPREFIX="$build_mingw/wineprefix"
        export WINEDLLOVERRIDES="winemenubuilder.exe,mscoree,mshtml=d"
        wexe="$build_mingw/bin/mproc_bench.exe"
        # The prefix is made on first use (about 20 s); then the wineserver is up, not timed.
        timeout 300 "$wine" "$wexe" --exit-now >/dev/null 2>&1
        echo "# count: under Wine: spawn and CreateProcess median of 30 runs, apply_async 20k" \
            "tasks, apply 1000 calls, pool_lifecycle 10 runs" >>"$out/wine.tsv"
        for spec in "floor_createprocess 30" "process_spawn 30" "apply_async 20000" "apply 1000" \
            "map_auto 1000000" "pool_lifecycle 10" "result_64mib 64"; do
            # shellcheck disable=SC2086 # "figure count"
            set -- $spec
            echo "  $1"
            run "$out/wine.tsv" 300 "$1" "$wine" "$wexe" "$@"
        done
        tables+=("$out/wine.tsv")
    fi
fi

echo "# load: $(load) at the end" >>"$out/mproc.tsv"
if busy; then
    echo "run.sh: warning: load average $(load) at the end: the figures are noisy" >&2
fi

echo
"$python" "$bench/table.py" "${tables[@]}" | tee "$out/table.md"
exit "$status"
