#!/usr/bin/env bash
# Runs every mproc test suite five ways: Linux with fork, Linux with spawn, Linux with fork
# against the shared library (linux-shared), and two Windows builds under Wine: MinGW-w64 gcc
# (windows-wine) and clang-cl in MSVC mode against Wine's MSVC-compatible headers (msvc-wine,
# cmake/clang-cl-msvc.cmake). Installs what is missing on a Debian 12 machine when run as root.
# With the Linux columns come the MPI component's tests (label mpi, tests/mpi: mpiexec on one
# host, and two hosts in network namespaces when root) against both Linux builds: linux-mpi and
# linux-shared-mpi.
#
#   ./scripts/test.sh                 all five columns
#   ./scripts/test.sh --linux-only    linux-fork, linux-spawn and linux-shared
#   ./scripts/test.sh --windows-only  windows-wine and msvc-wine
#   ./scripts/test.sh --mingw-only    windows-wine
#   ./scripts/test.sh --msvc-only     msvc-wine
#
# Environment: MPROC_BUILD_TYPE (default Debug), MPROC_CMAKE_ARGS (extra configure arguments for
# both builds, e.g. "-DMPROC_SANITIZE=address;undefined" for the Linux one).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
# shellcheck source=scripts/common.sh
. "$root/scripts/common.sh"

do_linux=1
do_mingw=1
do_msvc=1
option() {
    case "$1" in
    --linux-only) do_mingw=0 do_msvc=0 ;;
    --windows-only) do_linux=0 ;;
    --mingw-only) do_linux=0 do_msvc=0 ;;
    --msvc-only) do_linux=0 do_mingw=0 ;;
    *) return 1 ;;
    esac
}
mproc_parse_args option "$@"

groups=(build)
[ "$do_linux" = 1 ] && groups+=(tests mpi)
{ [ "$do_mingw" = 1 ] || [ "$do_msvc" = 1 ]; } && groups+=(wine)
[ "$do_mingw" = 1 ] && groups+=(windows)
[ "$do_msvc" = 1 ] && groups+=(msvc)
mproc_deps "${groups[@]}"

build_type=${MPROC_BUILD_TYPE:-Debug}
jobs=$(nproc 2>/dev/null || echo 2)
# shellcheck disable=SC2206 # word splitting is the point
extra_args=(${MPROC_CMAKE_ARGS:-})
failed_any=0
total_passed=0
total_failed=0

# Sums cmocka's "[  PASSED  ] N test(s)." style lines of one kind in a file.
count_cases() {
    grep -o "\[  $1 *\] [0-9]* test" "$2" 2>/dev/null | awk '{ n += $(NF-1) } END { print n + 0 }'
}

# run_column BUILD_DIR LABEL COLUMN: runs the suites labelled LABEL, records a summary line.
run_column() {
    local dir=$1 label=$2 column=$3
    local log="$dir/ctest-$label.log" junit="$dir/ctest-$label.xml"
    echo
    echo "==> $column: ctest -L $label"
    rm -f "$junit"
    # Whole outputs in the JUnit file (CTest keeps only 1 KiB of a passed test's by default): the
    # summary counts cmocka's cases from there.
    ctest --test-dir "$dir" -L "^${label}\$" --output-on-failure -j2 --output-junit "$junit" \
        --test-output-size-passed 1048576 --test-output-size-failed 1048576 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local total failed passed
    total=$(sed -n 's/.*tests failed out of \([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
    failed=$(sed -n 's/.* \([0-9][0-9]*\) tests failed out of.*/\1/p' "$log" | tail -n 1)
    total=${total:-0}
    failed=${failed:-0}
    passed=$((total - failed))
    local cases
    cases="cmocka cases: $(count_cases PASSED "$junit") passed, $(count_cases FAILED "$junit") failed, $(count_cases SKIPPED "$junit") skipped"
    if [ "$rc" -ne 0 ] || [ "$total" -eq 0 ] || [ "$failed" -ne 0 ]; then
        failed_any=1
        [ "$total" -eq 0 ] && failed=1 # a column that ran nothing has failed
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    mproc_summary_add "$(printf '%-13s %d passed, %d failed (suites); %s' "$column:" "$passed" "$failed" "$cases")"
}

# column_failed COLUMN WHY: a column that could not even run.
column_failed() {
    failed_any=1
    total_failed=$((total_failed + 1))
    mproc_summary_add "$(printf '%-13s FAILED: %s' "$1:" "$2")"
}

if [ "$do_linux" = 1 ]; then
    echo "==> linux: configure and build (build/linux, $build_type)"
    if cmake -S "$root" -B "$root/build/linux" -DCMAKE_BUILD_TYPE="$build_type" \
        -DMPROC_WERROR=ON "${extra_args[@]}" &&
        cmake --build "$root/build/linux" -j "$jobs"; then
        run_column "$root/build/linux" fork linux-fork
        run_column "$root/build/linux" spawn linux-spawn
        run_column "$root/build/linux" mpi linux-mpi
    else
        column_failed linux-fork "the Linux build failed"
        column_failed linux-spawn "the Linux build failed"
        column_failed linux-mpi "the Linux build failed"
    fi
    # The same suites once more against the shared library (BUILD_SHARED_LIBS=ON): what a
    # program linking libmproc.so gets, through the exports alone (tests/CMakeLists.txt).
    echo
    echo "==> linux-shared: configure and build (build/linux-shared, $build_type, shared library)"
    if cmake -S "$root" -B "$root/build/linux-shared" -DCMAKE_BUILD_TYPE="$build_type" \
        -DMPROC_WERROR=ON -DBUILD_SHARED_LIBS=ON -DMPROC_BUILD_BENCH=OFF "${extra_args[@]}" &&
        cmake --build "$root/build/linux-shared" -j "$jobs"; then
        run_column "$root/build/linux-shared" fork linux-shared
        run_column "$root/build/linux-shared" mpi linux-shared-mpi
    else
        column_failed linux-shared "the shared Linux build failed"
        column_failed linux-shared-mpi "the shared Linux build failed"
    fi
fi

# run_windows BUILD_DIR TOOLCHAIN COLUMN WHAT: configures and builds one Windows build, then runs
# its suites (label windows) under Wine, in a Wine prefix of its own.
run_windows() {
    local dir=$1 toolchain=$2 column=$3 what=$4
    echo
    echo "==> $column: configure and build ($dir, $build_type, $what)"
    if ! cmake -S "$root" -B "$dir" -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
        -DCMAKE_BUILD_TYPE="$build_type" -DMPROC_WERROR=ON \
        -DMPROC_WINE="$wine" -DMPROC_WINEPREFIX="$dir/wineprefix" \
        -DFETCHCONTENT_SOURCE_DIR_CMOCKA="$cmocka_src" \
        "${extra_args[@]}" ||
        ! cmake --build "$dir" -j "$jobs"; then
        column_failed "$column" "the $what build failed"
        return
    fi
    # One Wine prefix per build, made before the suites run so two parallel suites do not race
    # to create it. No Mono/Gecko installers, no menu entries.
    export WINEPREFIX="$dir/wineprefix"
    export WINEDEBUG=-all
    export WINEDLLOVERRIDES="winemenubuilder.exe,mscoree,mshtml=d"
    local wineserver
    wineserver="$(dirname "$wine")/wineserver"
    [ -x "$wineserver" ] || wineserver=$(command -v wineserver || echo wineserver)
    if [ ! -f "$WINEPREFIX/system.reg" ]; then
        echo "==> $column: creating the Wine prefix $WINEPREFIX"
        if ! "$wine" wineboot --init >"$dir/wineboot.log" 2>&1; then
            cat "$dir/wineboot.log"
        fi
        "$wineserver" -w
    fi
    # Wine's server and its system processes (services.exe, ...) inherit the output pipe of
    # whichever program starts them, and CTest waits for that pipe to close: a suite that
    # started them would seem to run until every other suite ends. Start them here, on
    # /dev/null, and keep them for the run.
    "$wineserver" -p60 >/dev/null 2>&1 </dev/null
    "$wine" cmd /c exit >/dev/null 2>&1 </dev/null
    run_column "$dir" windows "$column"
    "$wineserver" -k 2>/dev/null || true
}

if [ "$do_mingw" = 1 ] || [ "$do_msvc" = 1 ]; then
    echo
    echo "==> windows: cmocka source (Debian's source package, into .deps/)"
    wine=$(mproc_find_wine)
    if ! cmocka_src=$(mproc_cmocka_source "$root/.deps"); then
        [ "$do_mingw" = 1 ] && column_failed windows-wine "could not fetch cmocka's source"
        [ "$do_msvc" = 1 ] && column_failed msvc-wine "could not fetch cmocka's source"
    else
        [ "$do_mingw" = 1 ] &&
            run_windows "$root/build/mingw" "$root/cmake/mingw-w64.cmake" windows-wine MinGW-w64
        [ "$do_msvc" = 1 ] &&
            run_windows "$root/build/msvc" "$root/cmake/clang-cl-msvc.cmake" msvc-wine \
                "clang-cl, MSVC mode"
    fi
fi

mproc_summary_print summary
echo "total: $total_passed passed, $total_failed failed"
exit "$failed_any"
