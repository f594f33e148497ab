#!/usr/bin/env bash
# Builds mproc_bench (Release, in build/bench) and takes the table of bench/README.md: every
# figure of mproc, the same work with Python's multiprocessing and the OS floor under it, in
# interleaved rounds, then the medians, spreads, ratios, targets met or missed, and the plot.
#
#   bench/run.sh                Linux: 3 rounds (about 5 minutes on 2 idle cores)
#   bench/run.sh --rounds N     N rounds instead (at least 1; 3 or more to see a spread)
#   bench/run.sh --wine         also the MinGW-w64 build's Windows figures under Wine, one
#                               round of them (+ about 2 minutes)
#
# A round runs each figure's floor, mproc and Python back to back, in an order that turns each
# round (floor-mproc-Python, mproc-Python-floor, Python-floor-mproc), so whatever else happens
# on the machine hits all three alike. Ratios are taken inside a round; the table shows the
# median across rounds and the spread (lowest-highest), and a target counts as missed only
# where the median of its rounds misses it. The load average is recorded before every figure.
# A figure that fails or exceeds its time limit shows as FAILED or TIMEOUT and makes the exit
# status 1. Raw output: build/bench/results/ (rN/*.tsv, *.err, load.tsv, table.md,
# speedup.png); copy speedup.png to bench/ to update the checked-in plot.
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
rounds=3

do_wine=0
while [ $# -gt 0 ]; do
    case "$1" in
    --wine) do_wine=1 ;;
    --rounds)
        shift
        rounds=${1:-}
        if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
            echo "run.sh: --rounds needs a count of at least 1" >&2
            exit 2
        fi
        ;;
    -h | --help)
        sed -n '2,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *)
        echo "usage: $0 [--rounds N] [--wine]" >&2
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
# The real-work figure needs zlib's headers (zlib1g-dev), the plot gnuplot (gnuplot-nox); both
# are optional: without them the figure or the plot is skipped with a note.
if [ -f "$root/scripts/common.sh" ]; then
    # shellcheck source=../scripts/common.sh
    . "$root/scripts/common.sh"
    if mproc_is_root; then
        mproc_deps bench
    fi
fi

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
rm -rf "$out"
mkdir -p "$out"
status=0

load() {
    cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?'
}

# run FILE LIMIT NAME COMMAND...: appends the command's lines to FILE; on failure a line
# "NAME<TAB>FAILED|TIMEOUT" instead of a value, and the reason on stderr.
run() {
    local file=$1 limit=$2 name=$3 rc before
    shift 3
    before=$(wc -l <"$file")
    printf '%s\t%s\t%s\n' "$round" "$name" "$(load)" >>"$out/load.tsv"
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
    tail -n +"$((before + 1))" "$file" | awk -F'\t' '!/^#/ { printf "%s=%s ", $1, $2 }'
}

echo "==> machine: $(nproc) CPUs, $(uname -sr); $("$python" --version 2>&1); load $(load)"
{
    echo "# machine: $(nproc) CPUs, $(uname -sr)"
    echo "# mproc $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')"
    echo "# rounds: $rounds"
    echo "# load: $(load) at start"
} >"$out/meta.txt"

# Each row: figure, its floor (- for none; several, comma-separated), the floor's count, mproc's
# count, Python's count (- : the figure's default). Python runs fewer items where its rate would
# take minutes; the figures are rates or medians, compared as they are (table.py says so under
# the table).
ROWS=(
    "process_fork floor_fork 200 200 200"
    "process_fork_1cpu floor_fork_1cpu,floor_fork_calls_1cpu 200 200 200"
    "process_spawn floor_posix_spawn 100 100 10"
    "apply_async floor_pipe_pipelined 200000 200000 40000"
    "apply floor_pipe_rtt 10000 5000 3000"
    "apply_1cpu floor_pipe_rtt_1cpu 10000 5000 3000"
    "apply_2cpu floor_pipe_rtt_2cpu 10000 5000 3000"
    "map_chunk1 - - 1000000 50000"
    "map_auto - - 1000000 1000000"
    "pool_lifecycle - - 50 20"
    "result_64mib floor_memcpy_64mib 64 64 64"
    "arg_64mib floor_pipe_64mib 64 64 64"
    "work - - 1024 1024"
    "work - - 64 64"
    "work - - 256 256"
    "work - - 4096 4096"
)

for spec in "${ROWS[@]}"; do
    # shellcheck disable=SC2086 # the fields of a row
    set -- $spec
    if [ "$4" != "$5" ]; then
        echo "# count: $1: mproc $4, Python $5 (rates and medians, compared as they are)"
    fi
done >>"$out/meta.txt"
echo "# count: imap: mproc 10000000 items, Python 200000" >>"$out/meta.txt"

for round in $(seq 1 "$rounds"); do
    echo "==> round $round of $rounds (load $(load))"
    dir="$out/r$round"
    mkdir -p "$dir"
    : >"$dir/mproc.tsv"
    : >"$dir/python.tsv"
    : >"$dir/mproc.err"
    : >"$dir/python.err"
    for spec in "${ROWS[@]}"; do
        # shellcheck disable=SC2086 # the fields of a row
        set -- $spec
        fig=$1 floor=$2 fn=$3 mn=$4 pn=$5
        order=(floor mproc python)
        case $((round % 3)) in
        2) order=(mproc python floor) ;;
        0) order=(python floor mproc) ;;
        esac
        printf '  %-18s ' "$fig $mn"
        for who in "${order[@]}"; do
            case "$who" in
            floor)
                # shellcheck disable=SC2086 # the floors, split at the commas
                [ "$floor" = - ] || for f in ${floor//,/ }; do
                    run "$dir/mproc.tsv" 300 "$f" "$exe" "$f" "$fn"
                done
                ;;
            mproc) run "$dir/mproc.tsv" 300 "$fig" "$exe" "$fig" "$mn" ;;
            python)
                run "$dir/python.tsv" 600 "$fig" "$python" "$bench/python_baseline.py" "$fig" "$pn"
                ;;
            esac
        done
        echo
    done
done

# imap over 10M items (and its RSS) once: a rate and a size, not near any floor.
round=once
echo "==> once: imap (load $(load))"
mkdir -p "$out/once"
: >"$out/once/mproc.tsv"
: >"$out/once/python.tsv"
printf '  %-18s ' imap
run "$out/once/mproc.tsv" 300 imap "$exe" imap 10000000 1
run "$out/once/python.tsv" 600 imap "$python" "$bench/python_baseline.py" imap 200000 1
echo

if [ "$do_wine" = 1 ]; then
    echo "==> Windows build (MinGW-w64) in $build_mingw, run under Wine"
    round=wine
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
            "tasks, apply and the pipe round trip 1000 calls, pool_lifecycle 10 runs" >>"$out/wine.tsv"
        for spec in "floor_createprocess 30" "process_spawn 30" "apply_async 20000" \
            "floor_pipe_rtt 1000" "apply 1000" "map_auto 1000000" "pool_lifecycle 10" \
            "result_64mib 64" "arg_64mib 64" "floor_memcpy_64mib 64"; do
            # shellcheck disable=SC2086 # "figure count"
            set -- $spec
            printf '  %-18s ' "$1"
            run "$out/wine.tsv" 300 "$1" "$wine" "$wexe" "$@"
            echo
        done
    fi
fi

echo "# load: $(load) at the end" >>"$out/meta.txt"

echo
"$python" "$bench/table.py" "$out" | tee "$out/table.md"

# The plot: speedup against task time, from the plot data table.py wrote.
if command -v gnuplot >/dev/null 2>&1 && [ -s "$out/speedup.dat" ]; then
    if gnuplot -e "datafile='$out/speedup.dat'; outfile='$out/speedup.png'" \
        "$bench/speedup.gp" 2>"$out/gnuplot.err"; then
        echo "==> plot: $out/speedup.png (copy it to bench/speedup.png to check it in)"
    else
        echo "run.sh: gnuplot failed: $(cat "$out/gnuplot.err")" >&2
    fi
else
    echo "==> plot skipped: no gnuplot (Debian: gnuplot-nox) or no real-work figures"
fi
exit "$status"
