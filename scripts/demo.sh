#!/usr/bin/env bash
# Builds mproc (native, Release) and runs the process-pool demo, examples/pool_callback.c.
# Installs what is missing on a Debian 12 machine when run as root.
#
#   ./scripts/demo.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/common.sh
. "$root/scripts/common.sh"
mproc_parse_args false "$@" # no options but --help

demo=pool_callback
if [ ! -f "$root/examples/$demo.c" ]; then
    echo "examples/$demo.c does not exist yet: no demo to run" >&2
    exit 1
fi

mproc_deps build

build="$root/build/release"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DMPROC_BUILD_TESTS=OFF -DMPROC_BUILD_BENCH=OFF -DMPROC_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" --target "$demo" -j "$(nproc 2>/dev/null || echo 2)"
echo "==> $build/bin/$demo"
exec "$build/bin/$demo"
