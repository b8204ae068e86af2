#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Mode "hub" (seed 003's hub and spoke): weftd holds the node's hub device;
# each container gets its own WireGuard interface whose peer is the hub, and
# a key made on the node that never leaves it. Pods reach each other and the
# node through the hub; a kill -9 of the agent loses nothing.
#
#   ┌── $C1 ───────────────┐          ┌── $NS1 (node) ─────────────────────┐          ┌── $C2 ──────────────┐
#   │ wg0 10.71.1.x/32 ────┼──UDP on──► hub $HUB 10.71.1.1/24 fd71:1::1/64 ◄┼──UDP on──┼── wg0 10.71.1.y/32  │
#   │     fd71:1::x/128    │  the node's loopback                             loopback │     fd71:1::y/128  │
#   └──────────────────────┘          └───────────────────────────────────┘          └─────────────────────┘
. "$(dirname "$0")/lib.sh"

CNI=$ROOT/$BUILD/weft-cni
WEFTD=$ROOT/$BUILD/weftd
STATE=$(mktemp -d /tmp/weftd-state.XXXXXX)
SOCK=/run/weft-test-$$/weftd.sock
HUB=wt${N}h
cleanup_more() {
	ns_del "weft-t$$-c1"
	ns_del "weft-t$$-c2"
	cleanup
	rm -rf "$STATE" "$(dirname "$SOCK")" "/var/run/wireguard/$HUB.sock"
}
trap cleanup_more EXIT
ip netns add "$NS1"
ip -n "$NS1" link set lo up
start_weftd() {
	rm -f "$SOCK" # a killed agent leaves its socket: wait for the new one
	ip netns exec "$NS1" "$WEFTD" --state-dir "$STATE" --socket "$SOCK" --pod-subnet 10.71.1.0/24 \
		--pod-subnet6 fd71:1::/64 --hub-name "$HUB" --hub-port "$PORT1" --log-level verbose \
		>>"$LOGS/weft-weftd-$$.log" 2>&1 &
	WEFTD_PID=$!
	PIDS+=($WEFTD_PID)
	wait_socket "$SOCK"
}
CONF='{"cniVersion":"1.0.0","name":"hub","type":"weft","mode":"hub","agentSocket":"'$SOCK'","agentStateDir":"'$STATE'"}'
cni() { # COMMAND INDEX
	echo "$CONF" | ip netns exec "$NS1" env CNI_COMMAND="$1" CNI_CONTAINERID="ctr-$2" \
		CNI_NETNS="/var/run/netns/weft-t$$-c$2" CNI_IFNAME=wg0 "$CNI"
}

check "weftd starts" start_weftd
for i in 1 2; do ip netns add "weft-t$$-c$i"; ip -n "weft-t$$-c$i" link set lo up; done
r1=$(cni ADD 1)
r2=$(cni ADD 2)
check "ADD: a WireGuard interface with a pod address and the gateway" has "$r1" '"name":"wg0"' '"address":"10.71.1.' '"gateway":"10.71.1.1"' '"address":"fd71:1::'
check "  no key in the result" sh -c "! echo '$r1' | grep -qi key"
a1=$(addr_of "$r1")
a2=$(addr_of "$r2")
check "the hub has both containers as peers" test "$(wg show "$HUB" peers | wc -l)" = 2
check "  each allowed only its own addresses ($a1, $a2)" sh -c "[ -n '$a1' ] && [ -n '$a2' ] && wg show $HUB allowed-ips | grep -qF '$a1/32' && wg show $HUB allowed-ips | grep -qF '$a2/32'"
check "pod to pod through the hub" wait_ping "weft-t$$-c1" "$a2" 5
a62=$(echo "$r2" | grep -o '"address":"fd71:1::[0-9a-f:]*/128"' | cut -d'"' -f4 | cut -d/ -f1)
check "  over IPv6 too ($a62)" ip netns exec "weft-t$$-c1" ping -6 -c 2 -W 3 "$a62"
check "node to pod" wait_ping "$NS1" "$a1" 3
ip netns exec "weft-t$$-c2" iperf3 -s -1 -p 5211 >/dev/null 2>&1 &
PIDS+=($!)
wait_listen "weft-t$$-c2" tcp 5211 >/dev/null
mbit=$(ip netns exec "weft-t$$-c1" timeout 20 iperf3 -c "$a2" -p 5211 -t 1 -J 2>/dev/null |
	python3 -c 'import json,sys; b=json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]; assert b > 0; print(round(b/1e6))' 2>/dev/null)
if [ -n "$mbit" ]; then pass "iperf3 pod to pod through the hub ($mbit Mbit/s)"; else fail "iperf3 pod to pod through the hub"; fi
check "the containers' keys stay on the node, mode 0600" sh -c "[ \$(stat -c %a $STATE/keys/ctr-1@wg0.key) = 600 ] && [ \$(stat -c %a $STATE/keys/hub.key) = 600 ]"
pub1=$(wg show "$HUB" peers | sort | head -1)
cni_check() { # [INDEX RESULT]
	echo "$CONF" | sed "s|^{|{\"prevResult\":${2:-$r1},|" | ip netns exec "$NS1" env CNI_COMMAND=CHECK \
		CNI_CONTAINERID="ctr-${1:-1}" CNI_NETNS="/var/run/netns/weft-t$$-c${1:-1}" CNI_IFNAME=wg0 "$CNI"
}
out=$(cni_check)
rc=$?
check "CHECK: exit 0, nothing printed (rc $rc)" test "$rc/$out" = 0/

kill -9 "$WEFTD_PID"
wait "$WEFTD_PID" 2>/dev/null
rm -f "/var/run/wireguard/$HUB.sock"
start_weftd
check "after kill -9 and a restart: pods reach each other again" wait_ping "weft-t$$-c1" "$a2" 10
check "  with the same keys" sh -c "[ -n '$pub1' ] && wg show $HUB peers | grep -qF '$pub1'"
check "  and the same addresses" sh -c "ip -n weft-t$$-c1 addr show wg0 | grep -q ' $a1/32'"

out=$(cni_check)
rc=$?
check "CHECK after the restart: exit 0, nothing printed (rc $rc)" test "$rc/$out" = 0/
check "DEL" cni DEL 1
check "  the hub forgets the pod" test "$(wg show "$HUB" peers | wc -l)" = 1
check "  its address and key are released" sh -c "[ ! -e $STATE/ipam/4/$a1 ] && [ ! -e $STATE/keys/ctr-1@wg0.key ]"
check "  its interface is gone" sh -c "! ip -n weft-t$$-c1 link show wg0 2>/dev/null"
check "DEL again" cni DEL 1
out=$(cni_check)
check "CHECK after DEL: not attached" has "$out" '"code":100' 'not attached'
check "the remaining pod is unaffected" wait_ping "$NS1" "$a2" 3
wg set "$HUB" peer "$(wg show "$HUB" allowed-ips | grep -F "$a2/32" | cut -f1)" remove
out=$(cni_check 2 "$r2")
check "CHECK notices the hub lost a pod" has "$out" '"code":100' 'has no peer for ctr-2/wg0'
cni DEL 2 >/dev/null
check "no key ever in the agent's log" sh -c "! grep -E '[A-Za-z0-9+/]{43}=' $LOGS/weft-weftd-$$.log"
finish
