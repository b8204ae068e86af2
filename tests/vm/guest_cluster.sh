#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs inside the VM (kernel WireGuard): a cluster of two nodes whose
# node devices are the kernel's. weft-manager in namespace "net" with the
# underlay bridge; nodes n1 and n2, each a namespace with weftd
# --backend kernel; a mesh pod and a hub pod on each. Pods reach each other
# across nodes; weftd killed -9 and restarted adopts its node device (the
# same interface, peers kept) while traffic goes on.
#
#   net: br0 192.168.77.1/24, weft-manager :7443
#     ├─ n1 eth0 .11 ─ weftd, kernel device wc1 ─ pods n1m (mesh), n1h (hub)
#     └─ n2 eth0 .12 ─ weftd, kernel device wc2 ─ pods n2m, n2h
. /test/lib.sh
ip link set lo up
T=/tmp/cluster
mkdir -p $T
ip netns add net
ip -n net link set lo up
ip -n net link add br0 address 02:77:65:66:74:03 type bridge
ip -n net addr add 192.168.77.1/24 dev br0
ip -n net addr add fd77::1/64 dev br0 nodad
ip -n net link set br0 up

ip netns exec net weft-manager --state-dir $T/mgr --listen 192.168.77.1:7443 --cluster-cidr 10.81.0.0/16 \
	--cluster-cidr fd81::/48 >>$T/manager.log 2>&1 &
up=0
for _ in $(seq 200); do [ -s $T/mgr/admin.token ] && ip netns exec net weft nodes --manager https://192.168.77.1:7443 \
	--ca $T/mgr/ca.crt --token-file $T/mgr/admin.token >/dev/null 2>&1 && up=1 && break; sleep 0.1; done
check "weft-manager starts" test $up = 1
export WEFT_MANAGER=https://192.168.77.1:7443 WEFT_CA=$T/mgr/ca.crt WEFT_TOKEN_FILE=$T/mgr/admin.token
ip netns exec net weft token create >$T/join.token
check "a join token from weft token create" grep -q '^weftj1:' $T/join.token

declare -A PID
start_weftd() { # K
	rm -f $T/n$1.sock
	ip netns exec n$1 weftd --state-dir $T/n$1 --socket $T/n$1.sock --backend kernel --hub-name wc$1 \
		--manager $WEFT_MANAGER --manager-ca $WEFT_CA --join-token-file $T/join.token --node-name n$1 \
		--endpoint 192.168.77.1$1 --log-level verbose >>$T/weftd-$1.log 2>&1 &
	PID[$1]=$!
	for _ in $(seq 300); do [ -S $T/n$1.sock ] && return 0; sleep 0.05; done
	tail -5 $T/weftd-$1.log
	return 1
}
cni() { # COMMAND NODE POD MODE
	echo '{"cniVersion":"1.0.0","name":"'$4'","type":"weft","mode":"'$4'","agentSocket":"'$T/n$2.sock'"}' |
		ip netns exec n$2 env CNI_COMMAND=$1 CNI_CONTAINERID=ctr-$3 CNI_NETNS=/run/netns/$3 CNI_IFNAME=eth0 weft-cni
}
declare -A A4 A6
add_pod() { # NODE POD MODE
	local r
	ip netns add $2
	ip -n $2 link set lo up
	r=$(cni ADD $1 $2 $3) || { echo "$r"; return 1; }
	A4[$2]=$(echo "$r" | grep -o '"address":"10\.81\.[0-9.]*' | head -1 | cut -d'"' -f4)
	A6[$2]=$(echo "$r" | grep -o '"address":"fd81:[0-9a-f:]*' | head -1 | cut -d'"' -f4)
	[ -n "${A4[$2]}" ] && [ -n "${A6[$2]}" ]
}
peers_of() { ip netns exec n$1 weft status --socket $T/n$1.sock --json | grep -o '"node": *"n[0-9]"' | tr -d ' ' | sort -u | tr -d '\n'; }
wait_peer() { for _ in $(seq 100); do [ "$(peers_of $1)" = "\"node\":\"n$2\"" ] && return 0; sleep 0.1; done; peers_of $1; return 1; }

for k in 1 2; do
	ip netns add n$k
	ip -n n$k link set lo up
	ip -n net link add v$k type veth peer name eth0 netns n$k
	ip -n net link set v$k master br0 up
	ip -n n$k addr add 192.168.77.1$k/24 dev eth0
	ip -n n$k link set eth0 up
	check "node n$k: weftd joins (kernel backend)" start_weftd $k
done
check "n1's node device is the kernel's WireGuard" sh -c "ip -n n1 -d link show wc1 | grep -q wireguard"
check "  with n2 as its peer" wait_peer 1 2
check "  and n2 with n1" wait_peer 2 1
check "  wg(8) sees the peer n2 on the kernel device" sh -c "ip netns exec n1 wg show wc1 endpoints | grep -q 192.168.77.12:51821"
for k in 1 2; do
	check "node n$k: a mesh pod" add_pod $k n${k}m mesh
	check "node n$k: a hub pod" add_pod $k n${k}h hub
done
matrix() {
	local a b bad=""
	for a in n1m n1h; do for b in n2m n2h; do
		ip netns exec $a ping -c 1 -W 3 ${A4[$b]} >/dev/null 2>&1 ||
			ip netns exec $a ping -c 2 -W 3 ${A4[$b]} >/dev/null 2>&1 || bad+=" $a>$b"
		ip netns exec $b ping -6 -c 1 -W 3 ${A6[$a]} >/dev/null 2>&1 ||
			ip netns exec $b ping -6 -c 2 -W 3 ${A6[$a]} >/dev/null 2>&1 || bad+=" $b>$a(v6)"
	done; done
	echo "$bad"
}
bad=$(matrix)
check "pods on n1 and n2 reach each other, mesh and hub, IPv4 and IPv6${bad:+:$bad}" test -z "$bad"

# kill -9: the kernel's device outlives weftd and is adopted, not remade.
idx=$(ip -n n1 -o link show wc1 | cut -d: -f1)
ip netns exec n2m ping -c 40 -i 0.1 ${A4[n1h]} >$T/ping.log 2>&1 &
PING=$!
sleep 0.5
kill -9 ${PID[1]}
wait ${PID[1]} 2>/dev/null
check "n1's weftd killed -9 and restarted" start_weftd 1
wait $PING
check "  a ping across it from n2 to n1's hub pod lost nothing ($(grep -o '[0-9]* packets received' $T/ping.log))" grep -q ' 0% packet loss' $T/ping.log
check "  the node device was adopted (ifindex $idx)" same "$idx" "$(ip -n n1 -o link show wc1 | cut -d: -f1)"
check "  its peer is still n2" wait_peer 1 2
bad=$(matrix)
check "  pods still reach each other${bad:+:$bad}" test -z "$bad"
check "weft nodes lists both" sh -c "ip netns exec net weft nodes | grep -q n1 && ip netns exec net weft nodes | grep -q n2"

for k in 1 2; do kill ${PID[$k]} 2>/dev/null; done
echo "# $PASSED passed, $FAILED failed in the VM (cluster, kernel backend)"
[ "$FAILED" = 0 ]
