#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs inside the VM (kernel WireGuard): two clusters joined through their
# gateways (docs/clusters.md), every device the kernel's. A broker and the
# managers of clusters a and b in namespace "net"; a1 and a2 gateway
# candidates of a, b1 the gateway of b. A pod on a2 (not the gateway) reaches
# b1's pod through a1. a1's weftd killed -9 and restarted within its lease
# adopts its gateway device (same interface, same key at b); killed and kept
# down past its lease, a2 takes over, and a1 back removes the device it left.
# The gateway devices keep Submariner's default name, "submariner" (no
# --gateway-device): kernel devices are per namespace, as on real nodes.
#
#   net: br0 192.168.78.1/24, broker :7440, manager a :7441, manager b :7442
#     ├─ a1 .11 (gateway candidate)  ├─ a2 .12 (gateway candidate)  └─ b1 .21 (gateway)
. /test/lib.sh
ip link set lo up
T=/tmp/gateway
mkdir -p $T
ip netns add net
ip -n net link set lo up
ip -n net link add br0 address 02:77:65:66:74:04 type bridge
ip -n net addr add 192.168.78.1/24 dev br0
ip -n net link set br0 up

declare -A PORT=([broker]=7440 [a]=7441 [b]=7442) CIDR=([a]=10.71.0.0/16 [b]=10.72.0.0/16) PID
url() { echo "https://192.168.78.1:${PORT[$1]}"; }
weft_at() { # MANAGER ARGS...: the CLI against that manager, as its admin
	local m=$1
	shift
	ip netns exec net env WEFT_MANAGER="$(url $m)" WEFT_CA=$T/m-$m/ca.crt WEFT_TOKEN_FILE=$T/m-$m/admin.token weft "$@"
}
start_manager() { # NAME FLAGS...
	local m=$1
	shift
	ip netns exec net weft-manager --state-dir $T/m-$m --listen 192.168.78.1:${PORT[$m]} "$@" >>$T/manager-$m.log 2>&1 &
	for _ in $(seq 300); do [ -s $T/m-$m/admin.token ] && weft_at $m nodes >/dev/null 2>&1 && return 0; sleep 0.1; done
	tail -3 $T/manager-$m.log
	return 1
}
check "the broker starts (weft-manager --role broker)" start_manager broker --role broker
for c in a b; do
	# A 20 s gateway lease: a sanitizer build of weftd under emulation
	# takes longer than the default 4 s to restart and renew.
	check "cluster $c's manager starts (--gateway-lease 20)" start_manager $c --cluster-cidr ${CIDR[$c]} --gateway-lease 20
	weft_at $c token create >$T/join-$c.token
done
check "weft broker-info create" weft_at broker broker-info create -o $T/broker-info.subm --ca $T/m-broker/ca.crt
for c in a b; do
	check "cluster $c joins with weft join" weft_at $c join $T/broker-info.subm --cluster-id $c --cable-driver wireguard
done

start_weftd() { # NODE: cluster = first letter; every one a gateway candidate
	local n=$1 c=${1:0:1}
	rm -f $T/$n.sock
	ip netns exec $n weftd --state-dir $T/$n --socket $T/$n.sock --backend kernel --hub-name wh$n \
		--manager "$(url $c)" --manager-ca $T/m-$c/ca.crt --join-token-file $T/join-$c.token --node-name $n \
		--endpoint "$(cat $T/$n.addr)" --gateway --log-level verbose >>$T/weftd-$n.log 2>&1 &
	PID[$n]=$!
	for _ in $(seq 300); do [ -S $T/$n.sock ] && return 0; sleep 0.05; done
	tail -5 $T/weftd-$n.log
	return 1
}
k=0
for n in a1 a2 b1; do
	case $n in a1) k=11 ;; a2) k=12 ;; b1) k=21 ;; esac
	ip netns add $n
	ip -n $n link set lo up
	ip -n net link add v$n type veth peer name eth0 netns $n
	ip -n net link set v$n master br0 up
	ip -n $n addr add 192.168.78.$k/24 dev eth0
	ip -n $n link set eth0 up
	echo 192.168.78.$k >$T/$n.addr
done
gateway_of() { weft_at $1 clusters 2>/dev/null | grep -q "^gateway: $2\$"; }
wait_for() { # SECONDS CMD...
	local s=$1
	shift
	for _ in $(seq $((s * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	"$@"
}
registered() { weft_at ${1:0:1} nodes 2>/dev/null | grep -q "^$1 "; }
grant() { # NODE: once it has joined, its manager's admin allows it to be a gateway
	wait_for 30 registered $1 && weft_at ${1:0:1} node gateway $1 --allow
}
check "a1's weftd starts (kernel backend, gateway candidate)" start_weftd a1
check "  an admin allows it to be a gateway (weft node gateway a1 --allow)" grant a1
check "  a1 is a's gateway" wait_for 20 gateway_of a a1
check "a2's weftd starts" start_weftd a2
check "  allowed" grant a2
check "b1's weftd starts" start_weftd b1
check "  allowed" grant b1
check "  b1 is b's gateway" wait_for 20 gateway_of b b1
check "  a2 stands by: a1 keeps the lease, a2 has no gateway device" sh -c "! ip -n a2 link show submariner"
check "a1's gateway device is the kernel's WireGuard, named submariner (the default), on UDP 4500" sh -c \
	"ip -n a1 -d link show submariner | grep -q wireguard && ip netns exec a1 wg show submariner listen-port | grep -qx 4500"
connected() { weft_at a clusters 2>/dev/null | grep -q "b.*connected"; }
check "  a's connection to b is connected" wait_for 40 connected
# The keepalive comes a moment later on the side with the greater key (it
# waits for the other to start, lib/agent/reconcile.h); b1 may have
# connected before.
check "  its peer is b1's gateway, allowed b's CIDR, keepalive 10" wait_for 10 sh -c \
	"ip netns exec a1 wg show submariner dump | awk 'NR==2' | grep -q '192.168.78.21:4500.*${CIDR[b]}.*10\$'"

declare -A A4
add_pod() { # NODE POD
	local r
	ip netns add $2
	ip -n $2 link set lo up
	r=$(echo '{"cniVersion":"1.0.0","name":"hub","type":"weft","mode":"hub","agentSocket":"'$T/$1.sock'"}' |
		ip netns exec $1 env CNI_COMMAND=ADD CNI_CONTAINERID=ctr-$2 CNI_NETNS=/run/netns/$2 CNI_IFNAME=eth0 weft-cni) ||
		{ echo "$r"; return 1; }
	A4[$2]=$(echo "$r" | grep -o '"address":"10\.7[12]\.[0-9.]*' | head -1 | cut -d'"' -f4)
	[ -n "${A4[$2]}" ]
}
check "a hub pod on a2 (not the gateway)" add_pod a2 pa
check "a hub pod on b1" add_pod b1 pb
reach() { ip netns exec $1 ping -c 1 -W 2 ${A4[$2]}; }
both_ways() { wait_for "$1" reach pa pb && wait_for 10 reach pb pa; }
check "a2's pod reaches b1's pod across the clusters, and back" both_ways 30
key_at_b() { ip netns exec b1 wg show submariner peers | head -1; }
key0=$(key_at_b)

# kill -9 within the lease: the kernel's device outlives weftd and is adopted.
idx=$(ip -n a1 -o link show submariner | cut -d: -f1)
kill -9 ${PID[a1]}
wait ${PID[a1]} 2>/dev/null
check "a1's weftd killed -9 and restarted within its lease" start_weftd a1
check "  a1 is still the gateway" wait_for 10 gateway_of a a1
check "  its gateway device was adopted (ifindex $idx), not remade" sh -c \
	"grep -q 'gateway: adopted submariner on UDP port 4500 (kernel)' $T/weftd-a1.log && [ \"\$(ip -n a1 -o link show submariner | cut -d: -f1)\" = $idx ]"
check "  b1's peer for a has the same key" same "$key0" "$(key_at_b)"
check "  pods still reach each other" both_ways 20

# kill -9 past the lease: a2 takes over; a1 back removes what it left.
kill -9 ${PID[a1]}
wait ${PID[a1]} 2>/dev/null
check "a1's weftd killed -9 and kept down: a2 takes the lease" wait_for 60 gateway_of a a2
check "  a2's gateway device is the kernel's WireGuard" sh -c "ip -n a2 -d link show submariner | grep -q wireguard"
new_peer() { [ "$(key_at_b)" != "$key0" ] && ip netns exec b1 wg show submariner endpoints | grep -q 192.168.78.12:4500; }
check "  b1's peer for a is a2's (new key, a2's endpoint)" wait_for 20 new_peer
check "  pods reach each other again, through a2" both_ways 30
check "a1 restarted: it stands by" start_weftd a1
left_removed() {
	! ip -n a1 link show submariner >/dev/null 2>&1 &&
		grep -q 'removed submariner, left from when this node was the gateway' $T/weftd-a1.log && return 0
	return 1
}
check "  and removes the gateway device it left behind" wait_for 15 left_removed
check "  pods still reach each other" both_ways 10
check "weft clusters on a shows a2 as gateway" gateway_of a a2

for n in a1 a2 b1; do kill ${PID[$n]} 2>/dev/null; done
# What the gateways said, when something failed (the guest's files die with it).
[ "$FAILED" = 0 ] || for n in a1 a2 b1; do grep -h 'gateway' $T/weftd-$n.log | tail -25 | sed "s/^/# $n: /"; done
echo "# $PASSED passed, $FAILED failed in the VM (clusters, kernel gateways)"
[ "$FAILED" = 0 ]
