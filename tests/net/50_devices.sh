#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The device API (lib/dev) on this host: backend choice and its errors, a
# large configuration round trip that wg(8) reads back the same, and a
# container's interface with the socket outside it. The kernel backend runs
# in the VM tests (tests/vm), since this kernel has no WireGuard.
#
#   ┌──── $C1 (container) ────┐        ┌──── $NS1 ─────────────┐  veth  ┌──── $NS2 ────┐
#   │ wgd (TUN) 10.88.0.1/24  │◄─TUN───│ wgdevctl: UDP socket   │◄──────►│ wireguard-go │
#   └─────────────────────────┘        └────────────────────────┘        │ 10.88.0.2/24 │
#                                                                         └──────────────┘
. "$(dirname "$0")/lib.sh"

WGDEVCTL=$ROOT/$BUILD/tests/tools/wgdevctl
C1=weft-t$$-c1
DEV=wt${N}d
cleanup_more() {
	ns_del "$C1"
	rm -f "/var/run/wireguard/$DEV.sock"
	cleanup
}
trap cleanup_more EXIT
setup_underlay
ip netns add "$C1"

# --- backends -------------------------------------------------------------
kernel_wg=0
n1 ip link add wtprobe type wireguard 2>/dev/null && { kernel_wg=1; n1 ip link del wtprobe; }
out=$(n1 "$WGDEVCTL" "$DEV" open 2>&1)
if [ "$kernel_wg" = 1 ]; then
	check "auto picks the kernel when it has WireGuard ($out)" sh -c "echo '$out' | grep -q backend=kernel"
	n1 "$WGDEVCTL" "$DEV" delete
else
	check "auto falls back to userspace without kernel WireGuard ($out)" sh -c "echo '$out' | grep -q backend=userspace"
	out=$(n1 "$WGDEVCTL" --backend kernel "$DEV" open 2>&1)
	check "kernel backend refused with the cause" sh -c "echo \"\$0\" | grep -q 'this kernel has no WireGuard'" "$out"
	check "  and the remedy" sh -c "echo \"\$0\" | grep -q 'modprobe wireguard' && echo \"\$0\" | grep -q 'userspace backend'" "$out"
fi
out=$(n1 "$WGDEVCTL" 'bad/name' open 2>&1)
check "a bad name is refused, quoted" sh -c "echo \"\$0\" | grep -q '\"bad/name\" is not a valid interface name'" "$out"
out=$(n1 "$WGDEVCTL" veth1 open 2>&1)
check "a name taken by another kind of link is refused, with the kind" sh -c "echo \"\$0\" | grep -q 'kind \"veth\"'" "$out"

# --- a large configuration, read back by the API and by wg(8) -----------
ip netns exec "$NS1" "$WGDEVCTL" --backend userspace --hold "$DEV" roundtrip 100 1500 >"$LOGS/weft-devctl-$$.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q holding "$LOGS/weft-devctl-$$.out" 2>/dev/null && break; sleep 0.05; done
check "100 peers, 1500 allowed IPs on one: read back identical" grep -q identical "$LOGS/weft-devctl-$$.out"
check "wg(8) sees the 100 peers" test "$(wg show "$DEV" peers | wc -l)" = 100
check "wg(8) sees every allowed IP (1500 + 99 x 3)" test "$(wg show "$DEV" allowed-ips | cut -f2 | tr ' ' '\n' | grep -c /)" = 1797
check "wg(8) sees the endpoints" test "$(wg show "$DEV" endpoints | grep -c ':')" = 100
out=$(n1 "$WGDEVCTL" "$DEV" open 2>&1)
check "another process's userspace device is not taken over" sh -c "echo \"\$0\" | grep -q 'another userspace WireGuard process'" "$out"
kill "${PIDS[-1]}"
wait "${PIDS[-1]}" 2>/dev/null
check "the device ends with its process" sh -c "! ip netns exec $NS1 ip link show $DEV 2>/dev/null && [ ! -e /var/run/wireguard/$DEV.sock ]"

# --- the interface in a container, the socket outside --------------------
start_wg "$NS2" "$WG2" go
KD=$(wg genkey)
cat >"$LOGS/weft-dev-$$.conf" <<EOF
private_key=$(echo "$KD" | base64 -d | od -An -tx1 -v | tr -d ' \n')
listen_port=$PORT1
public_key=$(echo "$PUB2" | base64 -d | od -An -tx1 -v | tr -d ' \n')
endpoint=10.99.$N.2:$PORT2
allowed_ip=10.88.0.2/32
EOF
ip netns exec "$NS1" "$WGDEVCTL" --backend userspace --netns "/var/run/netns/$C1" --hold "$DEV" set "$LOGS/weft-dev-$$.conf" \
	>"$LOGS/weft-devctl-$$.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q holding "$LOGS/weft-devctl-$$.out" 2>/dev/null && break; sleep 0.05; done
rm -f "$LOGS/weft-dev-$$.conf"
check "the interface is in the container" ip -n "$C1" link show "$DEV"
n2 wg set "$WG2" private-key <(echo "$KEY2") listen-port "$PORT2" peer "$(echo "$KD" | wg pubkey)" allowed-ips 10.88.0.1/32
n2 ip addr add 10.88.0.2/24 dev "$WG2"
n2 ip link set "$WG2" up
ip -n "$C1" addr add 10.88.0.1/24 dev "$DEV"
ip -n "$C1" link set "$DEV" up
check "the container reaches wireguard-go through the socket outside" wait_ping "$C1" 10.88.0.2 5
check "  the socket is in the caller's namespace" sh -c "ip netns exec $NS1 ss -uan | grep -q ':$PORT1 '"
check "  and the container has none" none . ip netns exec "$C1" ss -uanH
rm -f "$LOGS/weft-devctl-$$.out"

finish
