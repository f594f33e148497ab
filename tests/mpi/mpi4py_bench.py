"""The anchor of scripts/mpi-bench.sh: trivial tasks per second through mpi4py.futures, static
mode, under the same `mpiexec -n 3` (rank 0 runs this, the others serve):

    mpiexec -n 3 /usr/bin/python3 -m mpi4py.futures tests/mpi/mpi4py_bench.py [N]

The figures mirror tests/mpi/mpi_bench.c: submit (every future waited for), map(chunksize=1),
map(chunksize=1000); the task returns its argument and every result is checked."""
import sys
import time

from mpi4py.futures import MPIPoolExecutor


def echo(x):
    return x


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    with MPIPoolExecutor() as ex:
        list(ex.map(echo, range(200)))  # warm-up: the workers are up
        t0 = time.perf_counter()
        futs = [ex.submit(echo, i) for i in range(n)]
        got = [f.result() for f in futs]
        t1 = time.perf_counter()
        assert got == list(range(n))
        print("mpi4py_submit\t%.0f\ttasks/s" % (n / (t1 - t0)))
        for cs in (1, 1000):
            t0 = time.perf_counter()
            got = list(ex.map(echo, range(n), chunksize=cs))
            t1 = time.perf_counter()
            assert got == list(range(n))
            print("mpi4py_map_chunk%d\t%.0f\titems/s" % (cs, n / (t1 - t0)))
        print("# mpi4py.futures: %d tasks per figure" % n)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
