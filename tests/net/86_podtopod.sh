#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Mode "hub" with "podToPod" (issue 15 point 5, seed 003): the node's
# podToPod pods have each other as WireGuard peers besides the hub, so
# their traffic goes straight from one pod's device to the other's without
# the hub decrypting and encrypting it again. A pod of the same hub without
# podToPod still reaches them all through the hub. Adding, deleting and
# restarting the agent keep the peers symmetric.
#
#               ┌── $NS1 (node): weftd, hub $HUB 10.86.1.1/24 fd86:1::1/64 ──┐
#               │       ▲ UDP on the node's loopback ▲               ▲       │
#               └───────┼────────────────────────────┼───────────────┼───────┘
#   ┌─ c1 (podToPod) ───┴─┐  direct  ┌─ c2 (podToPod) ┴─┐   ┌─ c3 (hub only) ┴─┐
#   │ wg0 peers: hub, c2  ◄──────────► wg0 peers: hub, c1│   │ wg0 peer: hub    │
#   └─────────────────────┘ 127.0.0.1└──────────────────┘   └──────────────────┘
#   (c4, podToPod, joins later; c5 is an ADD that fails; c6 to c11 come and go at once)
. "$(dirname "$0")/lib.sh"

CNI=$ROOT/$BUILD/weft-cni
WEFTD=$ROOT/$BUILD/weftd
WEFT=$ROOT/$BUILD/weft
STATE=$(mktemp -d /tmp/weftd-state.XXXXXX)
SOCK=/run/weft-test-$$/weftd.sock
HUB=wt${N}h
C=weft-t$$-c
cleanup_more() {
	for i in $(seq 11); do ns_del "$C$i"; done
	cleanup
	rm -rf "$STATE" "$(dirname "$SOCK")" "/var/run/wireguard/$HUB.sock"
}
trap cleanup_more EXIT
ip netns add "$NS1"
ip -n "$NS1" link set lo up
start_weftd() {
	rm -f "$SOCK" # a killed agent leaves its socket: wait for the new one
	ip netns exec "$NS1" "$WEFTD" --state-dir "$STATE" --socket "$SOCK" --pod-subnet 10.86.1.0/24 \
		--pod-subnet6 fd86:1::/64 --hub-name "$HUB" --hub-port "$PORT1" --backend userspace \
		--log-level verbose >>"$LOGS/weft-weftd-$$.log" 2>&1 &
	WEFTD_PID=$!
	PIDS+=($WEFTD_PID)
	wait_socket "$SOCK"
}
conf() { # [PODTOPOD [MODE]]
	echo '{"cniVersion":"1.0.0","name":"hub","type":"weft","mode":"'"${2:-hub}"'","agentSocket":"'$SOCK'",'\
'"agentStateDir":"'$STATE'"'"${1:+,\"podToPod\":$1}"'}'
}
P2P=$(conf true)
HUBONLY=$(conf)
cni() { # COMMAND INDEX CONF
	echo "$3" | ip netns exec "$NS1" env CNI_COMMAND="$1" CNI_CONTAINERID="ctr-$2" CNI_NETNS="/var/run/netns/$C$2" \
		CNI_IFNAME=wg0 "$CNI"
}
addr6_of() { echo "$1" | grep -o '"address":"fd86:1::[0-9a-f:]*/128"' | cut -d'"' -f4 | cut -d/ -f1; }
# pod_peers INDEX: the pods pod INDEX has as direct peers, as "ctr-N:HANDSHAKE>0:ENDPOINT", sorted.
pod_peers() {
	ip netns exec "$NS1" "$WEFT" pods --socket "$SOCK" --json | python3 -c '
import json, sys
for p in json.load(sys.stdin)["pods"]:
    if p["containerID"] == "ctr-'"$1"'":
        print("\n".join(sorted("%s:%d:%s" % (q["pod"]["containerID"], q["latestHandshake"] > 0, q.get("endpoint", ""))
                               for q in p.get("peers", []) if "pod" in q)))'
}
# handshake I J: pod I has pod J as a direct peer at 127.0.0.1, with a handshake.
handshake() { pod_peers "$1" | grep -qx "ctr-$2:1:127.0.0.1:[0-9]*"; }
pod_peer_names() { pod_peers "$1" | cut -d: -f1 | tr '\n' ' ' | sed 's/ $//'; }
# The hub's bytes, received and sent, over all its peers.
hub_bytes() { wg show "$HUB" transfer | awk '{ s += $2 + $3 } END { print s + 0 }'; }

check "weftd starts" start_weftd
for i in 1 2 3 4 5; do ip netns add "$C$i"; ip -n "$C$i" link set lo up; done

out=$(cni ADD 1 "$(conf '"true"')")
check "podToPod \"true\" (a string): code 7 naming the field" has "$out" '"code":7' 'podToPod: \"true\" is not a boolean'
out=$(cni ADD 1 "$(conf true mesh)")
check "podToPod in mode mesh: code 7 naming the field" has "$out" '"code":7' 'podToPod: only mode \"hub\"'
check "  nothing attached" test "$(wg show "$HUB" peers 2>/dev/null | wc -l)" = 0

r1=$(cni ADD 1 "$P2P")
r2=$(cni ADD 2 "$P2P")
r3=$(cni ADD 3 "$HUBONLY")
a1=$(addr_of "$r1") a2=$(addr_of "$r2") a3=$(addr_of "$r3")
a61=$(addr6_of "$r1") a62=$(addr6_of "$r2") a63=$(addr6_of "$r3")
check "ADD of two podToPod pods and one hub-only pod ($a1, $a2, $a3)" sh -c "[ -n '$a1' ] && [ -n '$a2' ] && [ -n '$a3' ]"
check "  the hub has all three" test "$(wg show "$HUB" peers | wc -l)" = 3
check "podToPod pod to podToPod pod" wait_ping "${C}1" "$a2" 5
check "  over IPv6 ($a62)" ip netns exec "${C}1" ping -6 -c 2 -W 3 "$a62"
check "  and back" ip netns exec "${C}2" ping -c 2 -W 3 "$a1"
check "each podToPod pod has the other as a peer, with a handshake, at 127.0.0.1" handshake 1 2
check "  both ways" handshake 2 1
check "  and no other pod" test "$(pod_peer_names 1)/$(pod_peer_names 2)" = "ctr-2/ctr-1"
check "the hub-only pod has no pod peer" test -z "$(pod_peers 3)"

# Pod to pod traffic bypasses the hub: its counters stay put (a keepalive
# or a handshake may add a few hundred bytes) while megabytes go by.
before=$(hub_bytes)
ip netns exec "${C}1" ping -c 100 -i 0.01 -q "$a2" >/dev/null
mbit=$(iperf_between "${C}1" "${C}2" "$a2" 1 5286)
after=$(hub_bytes)
check "iperf3 podToPod pod to pod (${mbit:-no} Mbit/s)" test -n "$mbit"
check "  the hub's transfer counters did not grow ($before -> $after bytes)" test $((after - before)) -lt 4096

before=$(hub_bytes)
check "the hub-only pod reaches both podToPod pods through the hub" \
	sh -c "ip netns exec ${C}3 ping -c 2 -W 3 $a1 && ip netns exec ${C}3 ping -c 2 -W 3 $a2"
check "  over IPv6" sh -c "ip netns exec ${C}3 ping -6 -c 2 -W 3 $a61 && ip netns exec ${C}3 ping -6 -c 2 -W 3 $a62"
check "  and they reach it" sh -c "ip netns exec ${C}1 ping -c 2 -W 3 $a3 && ip netns exec ${C}2 ping -6 -c 2 -W 3 $a63"
after=$(hub_bytes)
check "  the hub carried that ($before -> $after bytes)" test $((after - before)) -gt 1000

cni_check() { # INDEX RESULT
	echo "$P2P" | sed "s|^{|{\"prevResult\":$2,|" | ip netns exec "$NS1" env CNI_COMMAND=CHECK \
		CNI_CONTAINERID="ctr-$1" CNI_NETNS="/var/run/netns/$C$1" CNI_IFNAME=wg0 "$CNI"
}
out=$(cni_check 1 "$r1")
rc=$?
check "CHECK of a podToPod pod: exit 0, nothing printed (rc $rc)" test "$rc/$out" = 0/

r4=$(cni ADD 4 "$P2P")
a4=$(addr_of "$r4")
check "a third podToPod pod added ($a4): the others have it" \
	test "$(pod_peer_names 1)/$(pod_peer_names 2)/$(pod_peer_names 4)" = "ctr-2 ctr-4/ctr-1 ctr-4/ctr-1 ctr-2"
check "  it reaches them directly" sh -c "ip netns exec ${C}4 ping -c 2 -W 3 $a1 && ip netns exec ${C}4 ping -c 2 -W 3 $a2"

# An ADD that fails halfway (an interface of that name is in the way)
# leaves no peer anywhere.
ip -n "${C}5" link add wg0 type veth peer name wg0p
out=$(cni ADD 5 "$P2P")
check "a failed podToPod ADD" has "$out" '"code":100' 'already exists'
check "  leaves no peer on the hub or the pods" \
	test "$(wg show "$HUB" peers | wc -l)/$(pod_peer_names 1)" = "4/ctr-2 ctr-4"

hub_peers=$(wg show "$HUB" peers | sort)
kill -9 "$WEFTD_PID"
wait "$WEFTD_PID" 2>/dev/null
rm -f "/var/run/wireguard/$HUB.sock"
start_weftd
check "after kill -9 and a restart: podToPod pods reach each other" wait_ping "${C}1" "$a2" 10
check "  over IPv6" ip netns exec "${C}2" ping -6 -c 2 -W 3 "$a61"
check "  their peers are back, symmetric" \
	test "$(pod_peer_names 1)/$(pod_peer_names 2)/$(pod_peer_names 4)" = "ctr-2 ctr-4/ctr-1 ctr-4/ctr-1 ctr-2"
check "  with a handshake" handshake 1 2
check "  the hub has the same pods" test "$(wg show "$HUB" peers | sort)" = "$hub_peers"
check "  the hub-only pod still reaches them" ip netns exec "${C}3" ping -c 2 -W 3 "$a2"
out=$(cni_check 2 "$r2")
rc=$?
check "CHECK after the restart: exit 0, nothing printed (rc $rc)" test "$rc/$out" = 0/

check "DEL of a podToPod pod" cni DEL 2 "$P2P"
check "  the others forget it" test "$(pod_peer_names 1)/$(pod_peer_names 4)" = "ctr-4/ctr-1"
check "  so does the hub" test "$(wg show "$HUB" peers | wc -l)" = 3
check "  the remaining podToPod pods still talk" ip netns exec "${C}1" ping -c 2 -W 3 "$a4"
check "  the hub-only pod still reaches them" ip netns exec "${C}3" ping -c 2 -W 3 "$a4"
check "DEL again" cni DEL 2 "$P2P"

# Six more at once: the hub's lock orders them, and every pair ends up
# peered both ways, whatever the order.
many="6 7 8 9 10 11"
for i in $many; do ip netns add "$C$i"; ip -n "$C$i" link set lo up; done
for i in $many; do cni ADD "$i" "$P2P" >"$STATE/add-$i.out" & done
wait_adds() { for j in $many; do grep -q '"address"' "$STATE/add-$j.out" || return 1; done; }
for _ in $(seq 100); do wait_adds && break; sleep 0.1; done
counts() { for i in 1 4 $many; do printf '%s ' "$(pod_peers "$i" | wc -l)"; done; }
check "six podToPod ADDs at once: all attached" wait_adds
check "  each of the eight podToPod pods has the seven others ($(counts))" test "$(counts)" = "7 7 7 7 7 7 7 7 "
check "  a new one reaches an old one directly" sh -c "ip netns exec ${C}11 ping -c 2 -W 3 $a1"
for i in $many; do cni DEL "$i" "$P2P" >/dev/null & done
wait_dels() { [ "$(wg show "$HUB" peers | wc -l)" = 3 ]; }
for _ in $(seq 100); do wait_dels && break; sleep 0.1; done
check "six DELs at once: the remaining pods have only each other" \
	test "$(pod_peer_names 1)/$(pod_peer_names 4)" = "ctr-4/ctr-1"
for i in 1 3 4 5; do cni DEL "$i" "$P2P" >/dev/null; done
check "all DELs: the hub has no peer, no key is left" sh -c "[ -z \"\$(wg show $HUB peers)\" ] && [ -z \"\$(ls $STATE/keys | grep @)\" ]"
check "no key ever in the agent's log" sh -c "! grep -E '[A-Za-z0-9+/]{43}=' $LOGS/weft-weftd-$$.log"
finish
