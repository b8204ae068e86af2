#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# weft lab: the whole system on this machine, made and checked by the
# command line itself. Three nodes with two pods each, in mode mesh and
# then hub: `weft lab check` finds every pod reaching every other over IPv4
# and IPv6, and the host outside the cluster and every node's underlay
# address, with no pod address on the underlay meanwhile; weft status, nodes and diagnose work from inside a node; a
# killed agent shows in check; `weft lab down` leaves no namespace, process,
# socket or file. Then IPv4 alone, with an external client dialing in
# (`weft lab client`), and an `up` that fails half-way (a weftd that will
# not start) cleaned up by `down` all the same.
#
#   weft-lab-net    br0 192.168.77.1/24 fd77::1/64, weft-manager :7443
#     ├─ weft-lab-n1  eth0 .11, weftd ── weft-lab-n1-p1, weft-lab-n1-p2
#     ├─ weft-lab-n2  eth0 .12, weftd ── weft-lab-n2-p1, weft-lab-n2-p2
#     └─ weft-lab-n3  eth0 .13, weftd ── weft-lab-n3-p1, weft-lab-n3-p2
#
# The lab's names are fixed (weft-lab-*): one lab at a time on a machine.
# An operator's lab already up is left alone, and the test skipped.
. "$(dirname "$0")/lib.sh"

WEFT=$ROOT/$BUILD/weft
DIR=/run/weft-lab-t$$
T=$(mktemp -d /tmp/weft-lab.XXXXXX)
unset WEFT_MANAGER WEFT_CA WEFT_TOKEN_FILE WEFT_CONFIG

if ip netns list | grep -q '^weft-lab-'; then
	skip "weft lab: a lab is up on this machine already (weft lab down removes it)"
	rm -rf "$T"
	exit 0
fi
# Keeps the daemons' logs (tests/run looks there for sanitizer reports),
# then takes the lab down, whatever happened.
save_logs() {
	local f
	[ -d "$DIR" ] || return 0
	for f in "$DIR"/manager.log "$DIR"/n*/weftd.log; do
		[ -f "$f" ] && cp "$f" "$LOGS/weft-lab-$$-$(basename "$(dirname "$f")")-$(basename "$f")"
	done
}
cleanup_more() {
	save_logs
	"$WEFT" lab down --dir "$DIR" >/dev/null 2>&1
	"$WEFT" lab down --dir "$T/dir" >/dev/null 2>&1
	cleanup
	rm -rf "$T" "$DIR"
}
trap cleanup_more EXIT

# nothing_left: no lab namespace, no process started from the lab's
# directory, no lab device socket, no directory.
nothing_left() {
	local d=${1:-$DIR}
	! ip netns list | grep -q '^weft-lab-' || { echo "namespaces left: $(ip netns list | grep '^weft-lab-')"; return 1; }
	! pgrep -f -- "$d/" >/dev/null || { echo "processes left: $(pgrep -af -- "$d/")"; return 1; }
	! ls /var/run/wireguard/weft-lab-* >/dev/null 2>&1 || { echo "sockets left"; return 1; }
	[ ! -e "$d" ] || { echo "$d is still there"; return 1; }
}
in_n1() { ip netns exec weft-lab-n1 "$WEFT" "$@"; }
# check_said NAME CMD...: check, with what CMD said shown on a failure.
check_said() {
	local name=$1 said
	shift
	if said=$("$@" 2>&1); then pass "$name"; else fail "$name"; echo "$said" | sed 's/^/#   /'; fi
}

lab_round() { # MODE
	local mode=$1 out
	out=$("$WEFT" lab up --mode "$mode" --dir "$DIR" 2>&1)
	check_said "lab up, mode $mode: 3 nodes joined, 6 pods" has "$out" "node n1 joined" "node n3 joined" "pod n3-p2 in weft-lab-n3-p2" \
		"up: 3 nodes, 2 pods each, mode $mode, IPv4 and IPv6"
	check "  a namespace each for the underlay, the host outside, 3 nodes and 6 pods" test "$(ip netns list | grep -c '^weft-lab-')" = 11
	check "  nothing of it in this namespace (no link, no address)" sh -c "! ip -o link | grep -q -e weft-lab -e 'n[0-9]@' && ! ip -o addr | grep -q -e 192.168.77. -e 10.244."
	out=$("$WEFT" lab status --dir "$DIR")
	check "lab status: the manager, the nodes running, how to step inside" has "$out" "(up): 3 nodes, 2 pods each, mode $mode" \
		"pid" "running" "weft-lab-n2-p1" "ip netns exec weft-lab-n1"
	check "  not a node down" sh -c "! echo '$out' | grep -q 'NOT RUNNING'"
	# Anything with a pod address on the underlay, while check runs.
	ip netns exec weft-lab-net timeout 120 tcpdump -U -n -i br0 -w "$T/clear.pcap" 'net 10.244.0.0/16 or net fd00:244::/48' \
		>"$T/clear.log" 2>&1 &
	cap=$!
	for _ in $(seq 50); do grep -q listening "$T/clear.log" && break; sleep 0.1; done
	out=$("$WEFT" lab check --dir "$DIR")
	sleep 0.3
	kill -INT $cap 2>/dev/null
	wait $cap 2>/dev/null
	check_said "lab check, mode $mode: every pod reaches every other" has "$out" "pod to pod: IPv4 30 of 30 answered; IPv6 30 of 30"
	check "  a matrix per family" has "$out" "IPv4     n1-p1" "IPv6     n1-p1"
	check_said "  and the host outside and every node, as its node" has "$out" \
		"beyond the pods (the host outside, every node on the underlay): IPv4 24 of 24 answered; IPv6 24 of 24" \
		"IPv4     outside  n1       n2       n3"
	n=$(tcpdump -n -r "$T/clear.pcap" 2>/dev/null | wc -l)
	check "  no pod address on the underlay meanwhile ($n packets)" test "$n" = 0
	out=$(in_n1 status --socket "$DIR/n1/weftd.sock")
	check "weft status in n1: its subnets, the manager, a peer per other node" has "$out" "node: n1" "connected: yes" \
		"device: weft-lab-n1" "node: n2" "node: n3" "latest handshake:" "transfer:"
	out=$(in_n1 nodes --config "$DIR/cli.json")
	check "weft nodes in n1 (the lab's cli.json)" has "$out" "n1  " "n2  " "n3  " "192.168.77.13:51821" "s ago"
	out=$(in_n1 pods --socket "$DIR/n1/weftd.sock")
	check "weft pods in n1" has "$out" "weft-lab-n1-p1" "weft-lab-n1-p2" "$mode"
	p32=$(python3 -c 'import json,sys; print([p for p in json.load(open(sys.argv[1]))["pods"] if p["name"] == "n3-p2"][0]["addresses"][0].split("/")[0])' "$DIR/lab.json")
	out=$(in_n1 diagnose weft-lab-n1-p1 "$p32" --socket "$DIR/n1/weftd.sock" --config "$DIR/cli.json")
	check "weft diagnose n1-p1 to n3-p2 ($p32): node n3, the peer, no problem" has "$out" "on node n3" "(node n3) allows" \
		"3 of 3 answered" "no problem seen from this node"
	# A node's agent killed: check says who cannot reach whom, and fails.
	pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodes"][2]["pid"])' "$DIR/lab.json")
	kill -9 "$pid"
	for _ in $(seq 100); do grep -qs '^State:.*[ZX]' "/proc/$pid/status" || [ ! -d "/proc/$pid" ] && break; sleep 0.05; done
	out=$("$WEFT" lab check --dir "$DIR")
	rc=$?
	check "n3's weftd killed: lab check fails, naming the pairs" sh -c "[ $rc = 1 ] && echo '$out' | grep -q 'FAIL n1-p1 -> n3-p1' && ! echo '$out' | grep -q 'FAIL n1-p1 -> n2-p1'"
	out=$(in_n1 diagnose weft-lab-n1-p1 "$p32" --socket "$DIR/n1/weftd.sock" --config "$DIR/cli.json")
	check "  diagnose from n1: the ping went out and nothing came back" has "$out" "none of 3 answered" "none came back" "problem"
	check "  lab status: n3 NOT RUNNING" sh -c "'$WEFT' lab status --dir '$DIR' | grep -q 'n3 .*NOT RUNNING'"
	save_logs
	out=$("$WEFT" lab down --dir "$DIR")
	check "lab down" has "$out" "removed 11 namespaces and $DIR"
	check "  nothing left: namespaces, processes, sockets, files" nothing_left
}

lab_round mesh
lab_round hub

out=$("$WEFT" lab up --nodes 2 --pods 1 --no-ipv6 --dir "$DIR" 2>&1)
check "lab up --nodes 2 --pods 1 --no-ipv6" has "$out" "up: 2 nodes, 1 pod each, mode mesh, IPv4, backend auto"
out=$("$WEFT" lab check --dir "$DIR")
check_said "  check: IPv4 only, both ways" sh -c "echo '$out' | grep -qx 'pod to pod: IPv4 2 of 2 answered' && echo '$out' | grep -q 'every node on the underlay): IPv4 6 of 6 answered\$' && ! echo '$out' | grep -q IPv6"
out=$("$WEFT" lab up --dir "$DIR" 2>&1)
check "  a second lab up: refused, exit 1" sh -c "[ $? = 1 ] && echo '$out' | grep -q 'a lab is up already'"
# An external client (docs/clusters.md): weft client add, then wg-quick up
# with weft-wg in weft-lab-client, on the underlay.
out=$("$WEFT" lab client --dir "$DIR" 2>&1)
check_said "lab client: a client dials in and reaches both pods" has "$out" "client laptop (10.244." \
	"dials in from weft-lab-client with wg-quick and weft-wg" "reached 2 of 2 pod addresses"
out=$("$WEFT" lab check --dir "$DIR")
check_said "  check: the client reaches the pods and they reach it" sh -c "echo '$out' | grep -qx 'pod to pod: IPv4 6 of 6 answered' && echo '$out' | grep -qE '^client +ok +ok +-\$'"
check_said "  (the client is no pod beyond the cluster)" has "$out" "every node on the underlay): IPv4 6 of 6 answered"
check "  lab status shows it" sh -c "'$WEFT' lab status --dir '$DIR' | grep -q '^external client laptop in weft-lab-client: 10.244.'"
check "  weft clients too, from n1" sh -c "ip netns exec weft-lab-n1 '$WEFT' clients --config '$DIR/cli.json' | grep -q '^laptop  10.244.'"
out=$("$WEFT" lab client --dir "$DIR" 2>&1)
check "  a second lab client: refused, exit 1" sh -c "[ $? = 1 ] && echo '$out' | grep -q 'has its client already'"
save_logs
"$WEFT" lab down --dir "$DIR" >/dev/null
check "  lab down: nothing left (the client's namespace, weft-wg and its socket too)" nothing_left

# A weftd that will not start: up stops half-way, says where, and down
# takes away what it had made. Programs are found next to weft first.
mkdir -p "$T/bin"
cp "$WEFT" "$T/bin/weft"
ln -s "$ROOT/$BUILD/weft-manager" "$T/bin/weft-manager"
ln -s "$ROOT/$BUILD/weft-cni" "$T/bin/weft-cni"
printf '#!/bin/sh\necho "weftd: refusing, for the test" >&2\nexit 3\n' >"$T/bin/weftd"
chmod +x "$T/bin/weftd"
out=$("$T/bin/weft" lab up --dir "$T/dir" 2>&1)
rc=$?
check "lab up with a weftd that exits: exit 1, which node, its log, what to do" sh -c "[ $rc = 1 ] && echo '$out' | grep -q 'weftd of node n1 exited (status 3)' && echo '$out' | grep -q 'refusing, for the test' && echo '$out' | grep -q 'weft lab down --dir $T/dir removes all it made'"
check "  the manager it started is still there to look at" pgrep -f -- "$T/dir/manager"
out=$("$T/bin/weft" lab status --dir "$T/dir")
check "  lab status says it failed" has "$out" "(failed)"
"$T/bin/weft" lab down --dir "$T/dir" >/dev/null
check "  lab down after the half-failed up: nothing left" nothing_left "$T/dir"
out=$("$WEFT" lab down --dir "$DIR")
check "lab down with no lab: says so, exit 0" has "$out" "no lab was up"
out=$("$WEFT" lab check --dir "$DIR" 2>&1)
check "lab check with no lab: exit 1" sh -c "[ $? = 1 ] && echo '$out' | grep -q 'no lab in $DIR'"
out=$("$WEFT" lab up --nodes 0 2>&1)
check "lab up --nodes 0: exit 2, the range" sh -c "[ $? = 2 ] && echo '$out' | grep -q 'from 1 to 50'"
mkdir -p "$T/full" && touch "$T/full/precious"
out=$("$WEFT" lab up --dir "$T/full" 2>&1)
check "lab up into a directory of other files: refused, exit 2, nothing touched" sh -c "[ $? = 2 ] && [ -e $T/full/precious ] && ! ip netns list | grep -q '^weft-lab-'"
finish
