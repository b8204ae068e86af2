#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# weft-cni chained after the reference plugins (Debian's
# containernetworking-plugins), driven the way libcni drives a plugin list:
# each plugin gets the previous one's result as prevResult; DEL and CHECK run
# with the final result, DEL in reverse order. Static mode on userspace
# WireGuard (hosted by weftd), with peers that are wireguard-go and weft-wg.
#
#   ┌ $C1 ─────────────┐ ptp  ┌─ $NS1 (node) ─────┐ veth ┌─ $NS2 ────────────────────────┐
#   │ eth0 10.74.0.x   ├──────┤ weftd, bridge     ├──────┤ wireguard-go $WG2 10.66.0.1   │
#   │ wg0  10.66.0.2 ──┼─UDP──► (the containers'  │      │   peer: C1                    │
#   ├ $C2 ─────────────┤      │  sockets live     │      │ weft-wg $WG1 10.67.0.1 fd67::1│
#   │ eth0 10.75.0.x   ├bridge┤  here)            │      │   peers: C2, C3               │
#   │ wg0  10.67.0.2 ──┼─UDP──►                   │      │                               │
#   ├ $C3 (standalone) ┤      │                   │      │                               │
#   │ wg0  10.67.0.3, fd67::3 ─UDP──►             │      │                               │
#   └──────────────────┘      └───────────────────┘      └───────────────────────────────┘
. "$(dirname "$0")/lib.sh"

CNI=$ROOT/$BUILD/weft-cni
WEFTD=$ROOT/$BUILD/weftd
REF_DIR=$(dirname "$(dpkg -L containernetworking-plugins 2>/dev/null | grep '/bridge$' | head -1)")
STATE=$(mktemp -d /tmp/weft-chain.XXXXXX)
SOCK=$STATE/weftd.sock
C=(x "weft-t$$-c1" "weft-t$$-c2" "weft-t$$-c3")
cleanup_more() {
	for i in 1 2 3; do ns_del "${C[$i]}"; done
	cleanup
	rm -rf "$STATE"
}
trap cleanup_more EXIT
if [ ! -x "$REF_DIR/ptp" ] || [ ! -x "$REF_DIR/bridge" ]; then
	skip "the reference plugins are not installed (apt-get install containernetworking-plugins)"
	finish
	exit
fi

setup_underlay
for i in 1 2 3; do ip netns add "${C[$i]}"; ip -n "${C[$i]}" link set lo up; done
ip netns exec "$NS1" "$WEFTD" --state-dir "$STATE/weftd" --socket "$SOCK" --log-level verbose \
	>"$LOGS/weft-weftd-$$.log" 2>&1 &
PIDS+=($!)
wait_socket "$SOCK"

# The peers, in another namespace: wireguard-go for C1, weft-wg for C2 and C3.
K=(x "$(wg genkey)" "$(wg genkey)" "$(wg genkey)")
P=(x "$(echo "${K[1]}" | wg pubkey)" "$(echo "${K[2]}" | wg pubkey)" "$(echo "${K[3]}" | wg pubkey)")
start_wg "$NS2" "$WG2" go
start_wg "$NS2" "$WG1" weft
n2 wg set "$WG2" private-key <(echo "$KEY2") listen-port "$PORT2" peer "${P[1]}" allowed-ips 10.66.0.2/32
n2 wg set "$WG1" private-key <(echo "$KEY1") listen-port "$PORT1" \
	peer "${P[2]}" allowed-ips 10.67.0.2/32 peer "${P[3]}" allowed-ips 10.67.0.3/32,fd67::3/128
n2 ip addr add 10.66.0.1/24 dev "$WG2"
n2 ip addr add 10.67.0.1/24 dev "$WG1"
n2 ip addr add fd67::1/64 dev "$WG1" nodad
n2 ip link set "$WG2" up
n2 ip link set "$WG1" up

# weft's part of each list: the container's key, its address, its peer.
weft_conf() { # VERSION INDEX ADDRESSES PEERKEY PEERPORT ALLOWED
	echo '{"cniVersion":"'$1'","name":"chain'$2'","type":"weft","agentSocket":"'$SOCK'","agentStateDir":"'$STATE/weftd'",
 "addresses":'$3',"privateKey":"'${K[$2]}'",
 "peers":[{"publicKey":"'$4'","endpoint":"10.99.'$N'.2:'$5'","allowedIPs":'$6',"persistentKeepalive":"10s"}]}'
}
REF1='{"cniVersion":"1.0.0","name":"chain1","type":"ptp","ipam":{"type":"host-local","subnet":"10.74.0.0/24","dataDir":"'$STATE/hl'"}}'
REF2='{"cniVersion":"1.0.0","name":"chain2","type":"bridge","bridge":"wbr'$N'","isGateway":true,
 "ipam":{"type":"host-local","subnet":"10.75.0.0/24","dataDir":"'$STATE/hl'"}}'
WEFT1=$(weft_conf 1.0.0 1 '["10.66.0.2/24"]' "$PUB2" "$PORT2" '["10.66.0.0/24"]')
WEFT2=$(weft_conf 1.0.0 2 '["10.67.0.2/24"]' "$PUB1" "$PORT1" '["10.67.0.0/24"]')
WEFT3=$(weft_conf 1.1.0 3 '["10.67.0.3/24","fd67::3/64"]' "$PUB1" "$PORT1" '["10.67.0.0/24","fd67::/64"]')

# plugin BINARY COMMAND INDEX IFNAME [PREVRESULT] < config: one plugin of a
# list, as libcni runs it (in the node's namespace, with CNI_PATH for IPAM).
plugin() {
	local bin=$1 cmd=$2 i=$3 ifname=$4 prev=${5:-} conf
	conf=$(cat)
	[ -n "$prev" ] && conf=$(python3 -c 'import json,sys; c=json.loads(sys.argv[1]); c["prevResult"]=json.loads(sys.argv[2]); print(json.dumps(c))' "$conf" "$prev")
	echo "$conf" | ip netns exec "$NS1" env CNI_COMMAND="$cmd" CNI_CONTAINERID="ctr-$$-$i" \
		CNI_NETNS="/var/run/netns/${C[$i]}" CNI_IFNAME="$ifname" CNI_PATH="$REF_DIR" "$bin"
}

# --- ptp + host-local, then weft ----------------------------------------
# The reference plugins print indented JSON; ours is compact.
compact() { python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), separators=(",", ":")))'; }
rp1=$(echo "$REF1" | plugin "$REF_DIR/ptp" ADD 1 eth0 | compact)
check "ptp ADD" has "$rp1" '"name":"eth0"' '10.74.0.'
r1=$(echo "$WEFT1" | plugin "$CNI" ADD 1 eth0 "$rp1")
check "weft ADD chained after ptp: the previous result extended" has "$r1" '"name":"eth0"' '10.74.0.' '"name":"wg0"' '"address":"10.66.0.2/24"'
check "  the container reaches wireguard-go through wg0" wait_ping "${C[1]}" 10.66.0.1 5
gw=$(echo "$rp1" | grep -o '"gateway":"[0-9.]*"' | head -1 | cut -d'"' -f4)
check "  and the node through ptp's eth0 ($gw)" wait_ping "${C[1]}" "$gw" 3
mbit=$(iperf_between "${C[1]}" "$NS2" 10.66.0.1 1 5301)
if [ -n "$mbit" ]; then pass "  iperf3 to wireguard-go ($mbit Mbit/s)"; else fail "  iperf3 to wireguard-go"; fi
out=$(echo "$WEFT1" | plugin "$CNI" CHECK 1 eth0 "$r1")
rc=$?
check "CHECK: weft with the final result: exit 0, nothing printed (rc $rc)" test "$rc/$out" = 0/
# The reference plugins' CHECK matches every address of the result against
# their own interface (plugins/pkg/ip, ValidateExpectedInterfaceIPs), so it
# fails on any chain whose later plugins add addresses elsewhere; ptp is
# checked with its own result.
echo "$REF1" | plugin "$REF_DIR/ptp" CHECK 1 eth0 "$rp1" >/dev/null
check "  ptp with its own" test $? = 0
# --- bridge + host-local, then weft --------------------------------------
r=$(echo "$REF2" | plugin "$REF_DIR/bridge" ADD 2 eth0 | compact)
r2=$(echo "$WEFT2" | plugin "$CNI" ADD 2 eth0 "$r")
check "weft ADD chained after bridge: the previous result extended" has "$r2" '"name":"wbr'$N'"' '"name":"eth0"' '10.75.0.' '"name":"wg0"' '"address":"10.67.0.2/24"'
check "  the container reaches weft-wg through wg0" wait_ping "${C[2]}" 10.67.0.1 5
check "  and the bridge's gateway through eth0" wait_ping "${C[2]}" 10.75.0.1 3
mbit=$(iperf_between "${C[2]}" "$NS2" 10.67.0.1 1 5302)
if [ -n "$mbit" ]; then pass "  iperf3 to weft-wg ($mbit Mbit/s)"; else fail "  iperf3 to weft-wg"; fi

# --- standalone, IPv4 and IPv6 inside -----------------------------------
r3=$(echo "$WEFT3" | plugin "$CNI" ADD 3 wg0)
check "weft ADD standalone (1.1.0)" has "$r3" '"cniVersion":"1.1.0"' '"name":"wg0"' '"address":"fd67::3/64"'
check "  reaches weft-wg over IPv4" wait_ping "${C[3]}" 10.67.0.1 5
check "  and over IPv6" ip netns exec "${C[3]}" ping -6 -c 2 -W 3 fd67::1
mbit=$(iperf_between "${C[3]}" "$NS2" fd67::1 1 5303)
if [ -n "$mbit" ]; then pass "  iperf3 over IPv6 ($mbit Mbit/s)"; else fail "  iperf3 over IPv6"; fi

# --- DEL, in reverse order, with the final result ------------------------
echo "$WEFT1" | plugin "$CNI" DEL 1 eth0 "$r1" >/dev/null && echo "$REF1" | plugin "$REF_DIR/ptp" DEL 1 eth0 "$r1" >/dev/null
check "DEL of the ptp chain" test $? = 0
echo "$WEFT2" | plugin "$CNI" DEL 2 eth0 "$r2" >/dev/null && echo "$REF2" | plugin "$REF_DIR/bridge" DEL 2 eth0 "$r2" >/dev/null
check "DEL of the bridge chain" test $? = 0
check "DEL standalone" sh -c "echo '$WEFT3' | CNI_COMMAND=DEL CNI_CONTAINERID=ctr-$$-3 CNI_NETNS=/var/run/netns/${C[3]} CNI_IFNAME=wg0 ip netns exec $NS1 $CNI"
check "  no interface left in any container" sh -c "for n in ${C[1]} ${C[2]} ${C[3]}; do [ \$(ip -n \$n -o link | wc -l) = 1 ] || exit 1; done"
check "  no record left in the agent" none . ls "$STATE/weftd/attachments"
check "  the reference IPAM released its addresses" none '^10\.' ls "$STATE/hl/chain1" "$STATE/hl/chain2"
finish
