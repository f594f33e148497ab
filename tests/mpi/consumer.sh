#!/usr/bin/env bash
# The MPI component as a user gets it: installs BUILD_DIR into a temporary prefix, then builds
# examples/mpi_map.c against it twice, with find_package(mproc COMPONENTS mpi) and with
# `pkg-config mproc-mpi`, and runs each under mpiexec -n 3 (CTest mpi_consumer, label mpi).
#
#   consumer.sh SOURCE_DIR BUILD_DIR
set -u
src=$1
build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $*"
    exit 1
}
flags=(--oversubscribe --bind-to none -n 3)
[ "$(id -u)" = 0 ] && flags+=(--allow-run-as-root)
unset MPROC_START_METHOD

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "cmake --install"; }
for f in include/mproc_mpi.h lib/pkgconfig/mproc-mpi.pc; do
    [ -f "$tmp/prefix/$f" ] || fail "$f is not installed"
done
ls "$tmp"/prefix/lib/cmake/mproc/mproc-mpi-*-targets.cmake >/dev/null 2>&1 ||
    fail "no mproc-mpi targets file"

# find_package(mproc COMPONENTS mpi)
cmake -S "$src/tests/mpi/consumer" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
    -DMPI_MAP_SOURCE="$src/examples/mpi_map.c" -DEXAMPLES_DIR="$src/examples" \
    >"$tmp/cmake.log" 2>&1 && cmake --build "$tmp/cmake" >>"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log"; fail "the find_package consumer did not build"; }
timeout 100 mpiexec "${flags[@]}" "$tmp/cmake/consumer" >"$tmp/out1" 2>&1 ||
    { cat "$tmp/out1"; fail "the find_package consumer failed"; }
grep -qx "map: sum of squares of 0..99 = 328350" "$tmp/out1" || { cat "$tmp/out1"; fail "find_package consumer: wrong output"; }
echo "find_package(mproc COMPONENTS mpi): built, ran"

# pkg-config mproc-mpi (--static: a static libmproc's own needs)
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
cflags=$(pkg-config --cflags mproc-mpi) && libs=$(pkg-config --static --libs mproc-mpi) ||
    fail "pkg-config mproc-mpi"
echo "pkg-config: $cflags | $libs"
# shellcheck disable=SC2086 # the flags are words
cc -std=c99 -I"$src/examples" $cflags "$src/examples/mpi_map.c" -o "$tmp/pc" $libs \
    -Wl,-rpath,"$tmp/prefix/lib" 2>"$tmp/cc.log" || { cat "$tmp/cc.log"; fail "cc with pkg-config's flags"; }
timeout 100 mpiexec "${flags[@]}" "$tmp/pc" >"$tmp/out2" 2>&1 || { cat "$tmp/out2"; fail "the pkg-config consumer failed"; }
grep -qx "map: sum of squares of 0..99 = 328350" "$tmp/out2" || { cat "$tmp/out2"; fail "pkg-config consumer: wrong output"; }
echo "pkg-config mproc-mpi: built, ran"
echo "ok: consumer"
