#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One process hosting several devices, and a TUN placed in a container's
# namespace while its UDP socket stays in the host's (wireguard.com/netns).
#
#  ┌──────────── $C1 (container) ────────────┐
#  │ wgc: 192.168.243.1/24   (no other link)  │
#  └──────────────────▲──────────────────────┘
#                     │ TUN only
#  ┌──────────────────┴──── $NS1 (host) ─────────────────┐  veth  ┌────── $NS2 ──────┐
#  │ uwghost: sockets of wgc, wgx, wgy                    │◄──────►│ wireguard-go     │
#  │ wgx: 192.168.244.1/24   ── udp via lo ──►  wgy       │        │ 192.168.243.2/24 │
#  └──────────────────────────────────────────────────────┘        └──────────────────┘
#                                   wgy's TUN is in $C2: 192.168.244.2/24
. "$(dirname "$0")/lib.sh"

C1=weft-t$$-c1
C2=weft-t$$-c2
WGC=wt${N}c
WGX=wt${N}x
WGY=wt${N}y
UWGHOST=$ROOT/$BUILD/tests/tools/uwghost
cleanup_more() {
	ns_del "$C1"
	ns_del "$C2"
	rm -f /var/run/wireguard/$WGC.sock /var/run/wireguard/$WGX.sock /var/run/wireguard/$WGY.sock
	cleanup
}
trap cleanup_more EXIT

setup_underlay
ip netns add "$C1"
ip netns add "$C2"
ip -n "$C1" link set lo up
ip -n "$C2" link set lo up

# Directly, not through n1: $! must be the host's own pid, for cleanup.
ip netns exec "$NS1" "$UWGHOST" --netns "/var/run/netns/$C1" "$WGC" "$WGX" --netns "/var/run/netns/$C2" "$WGY" >"$LOGS/weft-uwghost-$$.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
	[ -S /var/run/wireguard/$WGY.sock ] && break
	sleep 0.05
done
check "one process serves three devices" sh -c "[ -S /var/run/wireguard/$WGC.sock ] && [ -S /var/run/wireguard/$WGX.sock ] && [ -S /var/run/wireguard/$WGY.sock ]"
check "wgc's interface is in the container" ip -n "$C1" link show "$WGC"
check "  and not in the host" sh -c "! ip -n $NS1 link show $WGC 2>/dev/null"
check "wgy's interface is in the second container" ip -n "$C2" link show "$WGY"

# --- the container's device, peering with wireguard-go in NS2 -------------
start_wg "$NS2" "$WG2" go
KC=$(wg genkey)
PC=$(echo "$KC" | wg pubkey)
wg set "$WGC" private-key <(echo "$KC") listen-port "$PORT1" peer "$PUB2" endpoint "10.99.$N.2:$PORT2" allowed-ips 192.168.243.2/32
n2 wg set "$WG2" private-key <(echo "$KEY2") listen-port "$PORT2" peer "$PC" endpoint "10.99.$N.1:$PORT1" allowed-ips 192.168.243.1/32
ip -n "$C1" addr add 192.168.243.1/24 dev "$WGC"
ip -n "$C1" link set "$WGC" up
n2 ip addr add 192.168.243.2/24 dev "$WG2"
n2 ip link set "$WG2" up
check "the container reaches the peer through the host's socket" wait_ping "$C1" 192.168.243.2 5
check "the peer reaches the container" wait_ping "$NS2" 192.168.243.1 5
check "the UDP socket is in the host's namespace" sh -c "ip netns exec $NS1 ss -uan | grep -q ':$PORT1 '"
check "  and the container has none" none . ip netns exec "$C1" ss -uanH

# --- two devices of one process talking to each other over loopback ------
KX=$(wg genkey)
KY=$(wg genkey)
wg set "$WGX" private-key <(echo "$KX") listen-port $((PORT1 + 1)) \
	peer "$(echo "$KY" | wg pubkey)" endpoint "127.0.0.1:$((PORT1 + 2))" allowed-ips 192.168.244.2/32
wg set "$WGY" private-key <(echo "$KY") listen-port $((PORT1 + 2)) \
	peer "$(echo "$KX" | wg pubkey)" endpoint "127.0.0.1:$((PORT1 + 1))" allowed-ips 192.168.244.1/32
n1 ip addr add 192.168.244.1/24 dev "$WGX"
n1 ip link set "$WGX" up
ip -n "$C2" addr add 192.168.244.2/24 dev "$WGY"
ip -n "$C2" link set "$WGY" up
check "two devices in one process carry traffic between them" wait_ping "$NS1" 192.168.244.2 5
mbit=$(iperf_between "$NS1" "$C2" 192.168.244.2 1 5202)
if [ -n "$mbit" ]; then pass "  iperf3 between them ($mbit Mbit/s)"; else fail "  iperf3 between them"; fi
check "the first device is unaffected" wait_ping "$C1" 192.168.243.2 3

# --- deleting one interface ends only that device -------------------------
ip -n "$C2" link del "$WGY"
sleep 0.5
check "deleting one interface leaves the others serving" wg show "$WGC"
check "  and still carrying traffic" wait_ping "$C1" 192.168.243.2 3

finish
