#!/usr/bin/env bash
# The MPI component's benchmark: trivial tasks per second through a pool of MPI ranks, against
# mpi4py.futures (static mode) and mproc's own fork pool, all under the same `mpiexec -n 3` on
# this machine; then, as root, the same program across two hosts (scripts/mpi-two-hosts.sh).
#
#   scripts/mpi-bench.sh [N]      N tasks per mproc figure (default 200000; mpi4py gets N/10)
#
# Builds build/mpi-bench (Release). Prints the raw lines, then a table with the ratios. The
# machine may be busy: the load average is printed beside the figures; read them with it.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/common.sh
. "$root/scripts/common.sh"
mproc_deps build tests mpi
n=${1:-200000}
py=/usr/bin/python3 # Debian's, which has mpi4py (a pyenv python first on PATH may not)
dir=$root/build/mpi-bench
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DMPROC_BUILD_TESTS=ON \
    -DMPROC_BUILD_BENCH=OFF -DMPROC_BUILD_EXAMPLES=OFF >/dev/null &&
    cmake --build "$dir" -j2 --target mpi_bench mpi_probe >/dev/null || exit 1
flags=(--oversubscribe --bind-to none -n 3)
mproc_is_root && flags+=(--allow-run-as-root)
unset MPROC_START_METHOD
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "==> load average before: $(cat /proc/loadavg)"
echo "==> mproc: mpiexec -n 3 mpi_bench $n"
timeout 600 mpiexec "${flags[@]}" "$dir/bin/mpi_bench" "$n" | tee -a "$out" || exit 1
echo "==> mpi4py.futures: mpiexec -n 3 $py -m mpi4py.futures tests/mpi/mpi4py_bench.py $((n / 10))"
timeout 600 mpiexec "${flags[@]}" "$py" -m mpi4py.futures "$root/tests/mpi/mpi4py_bench.py" \
    $((n / 10)) | tee -a "$out" || exit 1
echo "==> load average after: $(cat /proc/loadavg)"
if mproc_is_root; then
    echo "==> two hosts (network namespaces, 3 serving ranks: 1 on host A, 2 on host B)"
    bash "$root/scripts/mpi-two-hosts.sh" --run "$dir/bin/mpi_bench" $((n / 2)) |
        sed 's/^mpi_/two_hosts_mpi_/' | grep -v '^fork_' | tee -a "$out"
fi

echo
echo "==> table (same run; ratio = mproc / mpi4py.futures, and mproc MPI / mproc fork)"
awk -F'\t' '
    !/^#/ && NF == 3 { v[$1] = $2 }
    function row(name, m, py, f) {
        if (!(m in v)) return
        printf "%-34s %12.0f %s", name, v[m], (m ~ /map/ ? "items/s" : "tasks/s")
        if (py in v) printf "   %6.1fx mpi4py.futures (%s %.0f)", v[m] / v[py], py, v[py]
        if (f in v) printf "   %4.2fx fork pool (%.0f)", v[m] / v[f], v[f]
        printf "\n"
    }
    END {
        row("apply_async, MPI ranks", "mpi_apply_async", "mpi4py_submit", "fork_apply_async")
        row("map chunksize 1, MPI ranks", "mpi_map_chunk1", "mpi4py_map_chunk1", "fork_map_chunk1")
        row("map chunksize auto, MPI ranks", "mpi_map_auto", "mpi4py_map_chunk1000", "fork_map_auto")
        row("two hosts: apply_async", "two_hosts_mpi_apply_async", "mpi4py_submit", "")
        row("two hosts: map chunksize 1", "two_hosts_mpi_map_chunk1", "mpi4py_map_chunk1", "")
        row("two hosts: map chunksize auto", "two_hosts_mpi_map_auto", "mpi4py_map_chunk1000", "")
    }' "$out"
