#!/usr/bin/env bash
# Two hosts on one machine: runs an MPI pool across two network namespaces joined by a veth pair,
# and checks that tasks ran on serving ranks of both. CTest's mpi_two_hosts (label mpi).
#
#   scripts/mpi-two-hosts.sh PROBE [ITEMS]     PROBE: build/.../bin/mpi_probe (tests/mpi)
#   scripts/mpi-two-hosts.sh --run PROBE ARGS  the same hosts, PROBE's own mode (the benchmark)
#
# Host A (10.77.0.1) runs mpiexec and ranks 0-1, host B (10.77.0.2) ranks 2-3. mpiexec starts the
# orted of each host through an rsh agent that enters the host's namespace (ip netns exec), and
# Open MPI may use the veth subnet only (btl self,tcp; btl_tcp_if_include and
# oob_tcp_if_include 10.77.0.0/24; no tree spawn). The namespaces hold nothing but lo and the
# veth, so no byte can take another way. They are deleted on every exit, failure included.
# Not root, or no namespaces here: skipped with the reason (exit 77, CTest's SKIP_RETURN_CODE).
set -u
run_mode=0
if [ "${1:-}" = "--run" ]; then
    run_mode=1
    shift
fi
probe=${1:?usage: mpi-two-hosts.sh [--run] PROBE [ITEMS | ARGS...]}
shift
[ -x "$probe" ] || { echo "error: $probe is not an executable" >&2; exit 2; }

skip() {
    echo "SKIPPED: $*"
    exit 77
}
[ "$(id -u)" = 0 ] || skip "not root: network namespaces need CAP_SYS_ADMIN"
command -v ip >/dev/null || skip "no ip (iproute2)"
command -v mpiexec >/dev/null || skip "no mpiexec"

tag=$$
nsa=mprocA$tag
nsb=mprocB$tag
va=vmpa$tag
vb=vmpb$tag
work=$(mktemp -d)
cleanup() {
    local ns pid
    for ns in "$nsa" "$nsb"; do
        # Whatever still runs in our namespaces was started by this script.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -9 "$pid" 2>/dev/null
        done
        ip netns del "$ns" 2>/dev/null
    done
    ip link del "$va" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns add "$nsa" 2>"$work/err" || skip "ip netns add failed: $(cat "$work/err")"
ip netns add "$nsb" || exit 1
ip link add "$va" type veth peer name "$vb" || exit 1
ip link set "$va" netns "$nsa" && ip link set "$vb" netns "$nsb" || exit 1
ip -n "$nsa" addr add 10.77.0.1/24 dev "$va" && ip -n "$nsb" addr add 10.77.0.2/24 dev "$vb" || exit 1
for ns in "$nsa" "$nsb"; do
    ip -n "$ns" link set lo up || exit 1
done
ip -n "$nsa" link set "$va" up && ip -n "$nsb" link set "$vb" up || exit 1
# (no ping here: the first mpiexec contact proves the link)

# The hosts are named by their addresses (no resolver needed); the agent maps each to its
# namespace and runs the orted's command line there.
cat >"$work/hostfile" <<EOF2
10.77.0.1 slots=2
10.77.0.2 slots=2
EOF2
cat >"$work/agent" <<EOF2
#!/bin/sh
host=\$1
shift
case "\$host" in
10.77.0.1) ns=$nsa ;;
10.77.0.2) ns=$nsb ;;
*) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" sh -c "\$*"
EOF2
chmod +x "$work/agent"

flags=(--allow-run-as-root --oversubscribe --bind-to none -n 4 --hostfile "$work/hostfile"
    --mca plm_rsh_agent "$work/agent" --mca plm_rsh_no_tree_spawn 1
    --mca btl self,tcp --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset MPROC_START_METHOD

if [ "$run_mode" = 1 ]; then
    timeout -k 10 600 ip netns exec "$nsa" mpiexec "${flags[@]}" "$probe" "$@"
    exit $?
fi

items=${1:-40}
t0=$(date +%s)
timeout -k 10 150 ip netns exec "$nsa" mpiexec "${flags[@]}" "$probe" hosts "$items" >"$work/out" 2>&1
rc=$?
echo "mpiexec ended with $rc after $(($(date +%s) - t0))s; its output:"
cat "$work/out"
[ "$rc" = 0 ] || { echo "FAIL: exit $rc"; exit 1; }
ida=$(ip netns exec "$nsa" readlink /proc/self/ns/net)
idb=$(ip netns exec "$nsb" readlink /proc/self/ns/net)
count() { awk -v id="$1" '$1 == "answer:" && $2 == "rank" && $3 >= 1 && $3 <= 3 && $4 == id' "$work/out" | wc -l; }
na=$(count "$ida")
nb=$(count "$idb")
echo "answers from host A ($ida): $na, from host B ($idb): $nb"
[ $((na + nb)) = "$items" ] || { echo "FAIL: $((na + nb)) answers of $items from the two hosts"; exit 1; }
[ "$na" -gt 0 ] && [ "$nb" -gt 0 ] || { echo "FAIL: a host ran nothing"; exit 1; }
grep -q "^ranks: 3$" "$work/out" || { echo "FAIL: not 3 serving ranks"; exit 1; }
echo "ok: tasks ran on both hosts"
