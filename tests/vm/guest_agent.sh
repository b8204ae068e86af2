#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs inside the VM (kernel WireGuard): weftd with the kernel backend,
# modes hub and mesh as a runtime drives weft-cni. The hub and the
# containers' interfaces are the kernel's, so they outlive a kill -9 of the
# agent, which must adopt them on restart, not make them twice. Pods p1 and
# p2 (podToPod) also have each other as peers, which survives that too.
#
#   ┌ h1 ───────────────┐                 ┌ root namespace (node) ───────────┐
#   │ wg0 10.80.1.x/32 ─┼─UDP, loopback──►│ hub weft-hub 10.80.1.1/24 (kernel)│
#   ├ h2 ───────────────┤                 │ weftd --backend kernel            │
#   │ wg0 10.80.1.y/32 ─┼─UDP, loopback──►│                                   │
#   ├ m1, m2 ───────────┤ veth            │ weftXXXXXXXX 10.80.1.1/32         │
#   │ eth0 10.80.1.z/32 ├────────────────►│                                   │
#   └───────────────────┘                 └───────────────────────────────────┘
. /test/lib.sh
ip link set lo up
STATE=/tmp/weftd
SOCK=/run/weft/weftd.sock
mkdir -p /run/weft
start_weftd() {
	rm -f "$SOCK"
	weftd --state-dir "$STATE" --socket "$SOCK" --backend kernel --pod-subnet 10.80.1.0/24 \
		--pod-subnet6 fd80:1::/64 --log-level verbose >>/tmp/weftd.log 2>&1 &
	WEFTD_PID=$!
	for _ in $(seq 200); do [ -S "$SOCK" ] && return 0; sleep 0.05; done
	return 1
}
# cni COMMAND CONTAINER IFNAME MODE
cni() {
	echo '{"cniVersion":"1.1.0","name":"'$4'","type":"weft","mode":"'$4'"}' |
		CNI_COMMAND=$1 CNI_CONTAINERID=ctr-$2 CNI_NETNS=/run/netns/$2 CNI_IFNAME=$3 weft-cni
}
addr_of() { echo "$1" | grep -o '"address":"[0-9.]*/32"' | cut -d'"' -f4 | cut -d/ -f1; }
for c in h1 h2 m1 m2; do ip netns add $c; ip -n $c link set lo up; done

check "weftd starts (kernel backend)" start_weftd

# --- hub -----------------------------------------------------------------
r1=$(cni ADD h1 wg0 hub)
r2=$(cni ADD h2 wg0 hub)
check "hub ADD: an address from the pod subnet" has "$r1" '"name":"wg0"' '"address":"10.80.1.' '"gateway":"10.80.1.1"'
check "  the hub is kernel WireGuard" sh -c "ip -d link show weft-hub | grep -q wireguard"
check "  the container's interface too, in the container" sh -c "ip -d -n h1 link show wg0 | grep -q wireguard"
check "  the hub has both as peers" test "$(wg show weft-hub peers | wc -l)" = 2
a1=$(addr_of "$r1")
a2=$(addr_of "$r2")
check "pod to pod through the kernel hub" ip netns exec h1 ping -c 2 -W 3 "$a2"
check "node to pod" ping -c 1 -W 3 "$a1"
check "  the hub sees the containers on the node's loopback (their sockets stay here)" sh -c \
	"[ \$(wg show weft-hub endpoints | grep -c '127.0.0.1:') = 2 ]"
hub_index=$(cat /sys/class/net/weft-hub/ifindex)
wg0_index=$(ip -n h1 -o link show wg0 | cut -d: -f1)
pub1=$(ip netns exec h1 wg show wg0 public-key)

# --- mesh ----------------------------------------------------------------
m1=$(cni ADD m1 eth0 mesh)
m2=$(cni ADD m2 eth0 mesh)
b1=$(addr_of "$m1")
b2=$(addr_of "$m2")
check "mesh ADD: a veth and an address" has "$m1" '"name":"eth0"' '"address":"10.80.1.'
check "mesh pod to mesh pod" ip netns exec m1 ping -c 2 -W 3 "$b2"
check "mesh pod to hub pod, through the node" ip netns exec m1 ping -c 2 -W 3 "$a1"

# --- kill -9: the kernel's interfaces stay, and are adopted --------------
kill -9 "$WEFTD_PID"
wait "$WEFTD_PID" 2>/dev/null
check "after kill -9 the kernel's hub keeps forwarding" ip netns exec h1 ping -c 1 -W 3 "$a2"
check "restart" start_weftd
check "  the hub adopted, not made again (same ifindex)" test "$(cat /sys/class/net/weft-hub/ifindex)" = "$hub_index"
check "  the container's interface adopted (same ifindex, same key)" sh -c \
	"[ \"\$(ip -n h1 -o link show wg0 | cut -d: -f1)\" = '$wg0_index' ] && [ \"\$(ip netns exec h1 wg show wg0 public-key)\" = '$pub1' ]"
check "  still two peers on the hub" test "$(wg show weft-hub peers | wc -l)" = 2
check "  pods reach each other" ip netns exec h1 ping -c 2 -W 3 "$a2"
check "  a new ADD gets a fresh address" sh -c "ip netns add h3 && r=\$(echo '{\"cniVersion\":\"1.1.0\",\"name\":\"hub\",\"type\":\"weft\",\"mode\":\"hub\"}' | CNI_COMMAND=ADD CNI_CONTAINERID=ctr-h3 CNI_NETNS=/run/netns/h3 CNI_IFNAME=wg0 weft-cni) && a=\$(echo \"\$r\" | grep -o '\"address\":\"[0-9.]*/32\"' | cut -d'\"' -f4 | cut -d/ -f1) && [ -n \"\$a\" ] && [ \"\$a\" != '$a1' ] && [ \"\$a\" != '$a2' ] && [ \"\$a\" != '$b1' ] && [ \"\$a\" != '$b2' ]"

# --- podToPod: kernel pod interfaces peered with each other ---------------
p2p() { # COMMAND CONTAINER
	echo '{"cniVersion":"1.1.0","name":"p2p","type":"weft","mode":"hub","podToPod":true}' |
		CNI_COMMAND=$1 CNI_CONTAINERID=ctr-$2 CNI_NETNS=/run/netns/$2 CNI_IFNAME=wg0 weft-cni
}
hub_bytes() { wg show weft-hub transfer | awk '{ s += $2 + $3 } END { print s + 0 }'; }
for c in p1 p2; do ip netns add $c; ip -n $c link set lo up; done
q1=$(p2p ADD p1)
q2=$(p2p ADD p2)
c1=$(addr_of "$q1")
c2=$(addr_of "$q2")
check "podToPod ADD: each kernel pod interface has the hub and the other pod as peers" sh -c \
	"[ \$(ip netns exec p1 wg show wg0 peers | wc -l) = 2 ] && [ \$(ip netns exec p2 wg show wg0 peers | wc -l) = 2 ]"
check "  the other at 127.0.0.1, allowed its host addresses" sh -c \
	"ip netns exec p1 wg show wg0 allowed-ips | grep -q '$c2/32' && ip netns exec p1 wg show wg0 endpoints | grep -c 127.0.0.1: | grep -qx 2"
check "  the hub-only pods have no pod peer" test "$(ip netns exec h2 wg show wg0 peers | wc -l)" = 1
before=$(hub_bytes)
check "podToPod pod to pod" ip netns exec p1 ping -c 20 -W 3 "$c2"
after=$(hub_bytes)
check "  not through the hub ($before -> $after bytes)" test $((after - before)) -lt 2048
check "  a handshake on both sides" sh -c "ip netns exec p2 wg show wg0 latest-handshakes | awk '\$2 > 0' | grep -q . && ip netns exec p1 wg show wg0 latest-handshakes | awk '\$2 > 0' | wc -l | grep -qx 2"
check "  a hub-only pod reaches them through the hub" ip netns exec h2 ping -c 2 -W 3 "$c1"
kill -9 "$WEFTD_PID"
wait "$WEFTD_PID" 2>/dev/null
check "restart with podToPod pods" start_weftd
check "  both adopted with the hub and each other again" sh -c \
	"[ \$(ip netns exec p1 wg show wg0 peers | wc -l) = 2 ] && [ \$(ip netns exec p2 wg show wg0 peers | wc -l) = 2 ]"
check "  they reach each other" ip netns exec p2 ping -c 2 -W 3 "$c1"
p2p_check() { # CONTAINER RESULT
	echo '{"cniVersion":"1.1.0","name":"p2p","type":"weft","mode":"hub","podToPod":true,"prevResult":'"$2"'}' |
		CNI_COMMAND=CHECK CNI_CONTAINERID=ctr-$1 CNI_NETNS=/run/netns/$1 CNI_IFNAME=wg0 weft-cni
}
out=$(p2p_check p1 "$q1")
check "CHECK of a podToPod pod: exit 0, nothing printed" test "$?/$out" = 0/
ip netns exec p1 wg set wg0 peer "$(ip netns exec p2 wg show wg0 public-key)" remove
out=$(p2p_check p1 "$q1")
check "CHECK notices a podToPod pod lost its peer" has "$out" '"code":100' 'ctr-p1@wg0 has no peer for podToPod pod ctr-p2@wg0'
check "podToPod DEL" p2p DEL p2
check "  the other pod forgets it" test "$(ip netns exec p1 wg show wg0 peers | wc -l)" = 1
p2p DEL p1 >/dev/null

# --- DEL -----------------------------------------------------------------
check "hub DEL" cni DEL h1 wg0 hub
check "  the interface is gone" sh -c "! ip -n h1 link show wg0 2>/dev/null"
check "  the hub forgets it" test "$(wg show weft-hub peers | wc -l)" = 2
check "mesh DEL" cni DEL m1 eth0 mesh
check "  both ends of the veth are gone" sh -c "! ip -n m1 link show eth0 2>/dev/null && [ \$(ip -o link | grep -c '^[0-9]*: weft[0-9a-f]\{8\}@') = 1 ]"
for c in h2 h3; do cni DEL $c wg0 hub >/dev/null; done
cni DEL m2 eth0 mesh >/dev/null
check "  no address left allocated" none '^[0-9a-f]+[.:]' ls "$STATE/ipam/4" "$STATE/ipam/6"
check "  no key left but the hub's" sh -c "[ \"\$(ls $STATE/keys)\" = hub.key ]"
check "no key in the agent's log" sh -c "! grep -E '[A-Za-z0-9+/]{43}=' /tmp/weftd.log"
kill "$WEFTD_PID"
wait "$WEFTD_PID" 2>/dev/null
ip link del weft-hub 2>/dev/null
for c in h1 h2 h3 m1 m2 p1 p2; do ip netns del $c; done
[ "$FAILED" = 0 ] || sed 's/^/    weftd: /' /tmp/weftd.log | tail -60
echo "# $PASSED passed, $FAILED failed in the VM (agent, kernel backend)"
[ "$FAILED" = 0 ]
