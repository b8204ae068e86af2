#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A cluster: weft-manager and three nodes, each a namespace with its own
# weftd on a shared underlay bridge; pods in mesh and hub modes on every
# node reach each other across nodes, over IPv4 and IPv6, and what crosses
# the underlay is WireGuard only. Then the failures the cluster must ride
# out: the manager killed and restarted, an agent killed and restarted, a
# node added, a node removed.
#
#   $NET: bridge br0 192.168.77.1/24 fd77::1/64, weft-manager on :7443
#     ├─ $NODE1 eth0 .11 ── weftd n1 (hub weft-n1, :51821) ── pods $PODS-1-{m,h}
#     ├─ $NODE2 eth0 .12 ── weftd n2 ...
#     └─ $NODE3 eth0 .13 ── weftd n3 ...
. "$(dirname "$0")/lib.sh"

MANAGER=$ROOT/$BUILD/weft-manager
WEFTD=$ROOT/$BUILD/weftd
CNI=$ROOT/$BUILD/weft-cni
T=$(mktemp -d /tmp/weft-cluster.XXXXXX)
NET=weft-t$$-net
NODE=weft-t$$-n
PODS=weft-t$$-p
URL=https://192.168.77.1:7443
declare -A WPID
MPID=

cleanup_more() {
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep "^weft-t$$-"); do ns_del "$ns"; done
	cleanup
	for i in 1 2 3 4; do rm -f "/var/run/wireguard/wt$N-$i.sock"; done
	rm -rf "$T"
}
trap cleanup_more EXIT

ip netns add "$NET"
ip -n "$NET" link set lo up
ip -n "$NET" link add br0 type bridge
ip -n "$NET" addr add 192.168.77.1/24 dev br0
ip -n "$NET" addr add fd77::1/64 dev br0 nodad
ip -n "$NET" link set br0 up

start_manager() {
	ip netns exec "$NET" "$MANAGER" --state-dir "$T/mgr" --listen 192.168.77.1:7443 \
		--cluster-cidr 10.80.0.0/16 --cluster-cidr fd80::/48 --subnet-reuse-after 5 "$@" \
		>>"$LOGS/weft-manager-$$.log" 2>&1 &
	MPID=$!
	PIDS+=($MPID)
	for _ in $(seq 100); do
		ip netns exec "$NET" curl -s --cacert "$T/mgr/ca.crt" "$URL/v1/health" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
api() { # METHOD PATH [BODY] (as the admin)
	ip netns exec "$NET" curl -s --cacert "$T/mgr/ca.crt" -H "Authorization: Bearer $(cat "$T/mgr/admin.token")" \
		-X "$1" "$URL$2" ${3:+-d "$3"}
}

add_node() { # K: the namespace, its veth on the bridge, its address
	local k=$1 ns=$NODE$1
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip -n "$NET" link add "v$k" type veth peer name eth0 netns "$ns"
	ip -n "$NET" link set "v$k" master br0 up
	ip -n "$ns" addr add "192.168.77.1$k/24" dev eth0
	ip -n "$ns" addr add "fd77::1$k/64" dev eth0 nodad
	ip -n "$ns" link set eth0 up
}
start_weftd() { # K
	local k=$1
	ip netns exec "$NODE$k" "$WEFTD" --state-dir "$T/n$k" --socket "$T/n$k.sock" --backend userspace \
		--hub-name "wt$N-$k" --hub-port 51821 --manager "$URL" --manager-ca "$T/mgr/ca.crt" \
		--join-token-file "$T/join.token" --node-name "n$k" --endpoint "192.168.77.1$k" --log-level verbose \
		>>"$LOGS/weft-weftd-$$-$k.log" 2>&1 &
	WPID[$k]=$!
	PIDS+=(${WPID[$k]})
	wait_socket "$T/n$k.sock"
}
show() { # K: weftd's {"op":"show"}
	python3 - "$T/n$1.sock" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"op":"show"}\n')
s.shutdown(socket.SHUT_WR)
data = b''
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.decode())
EOF
}
node_peers() { # K: the node names among the hub's peers, sorted
	show "$1" | python3 -c 'import json,sys; print(" ".join(sorted(p["node"] for p in json.load(sys.stdin)["peers"] if "node" in p)))'
}
wait_peers() { # K WANT [SECONDS]
	local i
	for i in $(seq $((${3:-10} * 20))); do
		[ "$(node_peers "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
cni() { # COMMAND NODE MODE: pod $PODS-NODE-MODE
	local conf='{"cniVersion":"1.0.0","name":"c'$3'","type":"weft","mode":"'$3'","agentSocket":"'$T/n$2.sock'"}'
	echo "$conf" | ip netns exec "$NODE$2" env CNI_COMMAND="$1" CNI_CONTAINERID="ctr-$2-$3" \
		CNI_NETNS="/var/run/netns/$PODS-$2-$3" CNI_IFNAME=eth0 CNI_PATH="$ROOT/$BUILD" "$CNI"
}
declare -A ADDR4 ADDR6
add_pod() { # NODE MODE
	local r
	ip netns add "$PODS-$1-$2"
	ip -n "$PODS-$1-$2" link set lo up
	r=$(cni ADD "$1" "$2") || { echo "$r"; return 1; }
	ADDR4[$1-$2]=$(echo "$r" | grep -o '"address":"10\.80\.[0-9.]*' | head -1 | cut -d'"' -f4)
	ADDR6[$1-$2]=$(echo "$r" | grep -o '"address":"fd80:[0-9a-f:]*' | head -1 | cut -d'"' -f4)
	[ -n "${ADDR4[$1-$2]}" ] && [ -n "${ADDR6[$1-$2]}" ]
}
# Every pod pings every other pod on another node: the failures, listed.
matrix() {
	local a b bad=""
	for a in "${!ADDR4[@]}"; do
		for b in "${!ADDR4[@]}"; do
			[ "${a%%-*}" = "${b%%-*}" ] && continue
			ip netns exec "$PODS-$a" ping -c 1 -W 2 "${ADDR4[$b]}" >/dev/null 2>&1 ||
				ip netns exec "$PODS-$a" ping -c 2 -W 3 "${ADDR4[$b]}" >/dev/null 2>&1 || bad+=" $a>$b(v4)"
			ip netns exec "$PODS-$a" ping -6 -c 1 -W 2 "${ADDR6[$b]}" >/dev/null 2>&1 ||
				ip netns exec "$PODS-$a" ping -6 -c 2 -W 3 "${ADDR6[$b]}" >/dev/null 2>&1 || bad+=" $a>$b(v6)"
		done
	done
	echo "$bad"
}

# --- a manager, three nodes ------------------------------------------------------
check "the manager starts (SQLite, its own CA)" start_manager
check "  the admin token and CA are 0600 and 0644" sh -c "[ \$(stat -c %a $T/mgr/admin.token) = 600 ] && [ \$(stat -c %a $T/mgr/ca.crt) = 644 ]"
api POST /v1/tokens '{"ttl":3600}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$T/join.token"
check "a join token from the API" grep -q '^weftj1:' "$T/join.token"
for k in 1 2 3; do add_node $k; start_weftd $k; done
count_nodes() { api GET /v1/nodes | grep -o '"name":"n[0-9]"' | wc -l; }
check "three nodes joined" test "$(count_nodes)" = 3
all_peered() { wait_peers 1 'n2 n3' && wait_peers 2 'n1 n3' && wait_peers 3 'n1 n2'; }
check "  each has the other two as peers" all_peered
check "  the node key is on disk, 0600" sh -c "[ \$(stat -c %a $T/n1/keys/hub.key) = 600 ] && [ \$(stat -c %a $T/n1/cluster/credential) = 600 ]"
sub1=$(api GET /v1/nodes/n1 | grep -o '"subnets":\["10\.80\.[0-9]*\.0/24' | cut -d'"' -f4)
check "  n1 holds a /24 of the cluster CIDR ($sub1), routed into its peers' hubs" \
	sh -c "ip -n ${NODE}2 route show $sub1 | grep -q 'dev wt$N-2'"

for k in 1 2 3; do
	check "node $k: a mesh pod" add_pod $k mesh
	check "node $k: a hub pod" add_pod $k hub
done
bad=$(matrix)
check "every pod reaches every pod on the other nodes, IPv4 and IPv6 (mesh and hub)${bad:+:$bad}" test -z "$bad"

# --- the underlay carries WireGuard only ----------------------------------------------
ip netns exec "$NET" timeout 15 tcpdump -U -n -i br0 -w "$T/underlay.pcap" 'not arp and not icmp6' \
	>"$T/tcpdump.log" 2>&1 &
TCPDUMP=$!
for _ in $(seq 50); do grep -q listening "$T/tcpdump.log" && break; sleep 0.1; done
check "pings across nodes while capturing the underlay" ip netns exec "$PODS-1-mesh" ping -c 5 -i 0.2 "${ADDR4[2-hub]}"
check "  and over IPv6" ip netns exec "$PODS-3-hub" ping -6 -c 5 -i 0.2 "${ADDR6[1-mesh]}"
sleep 0.5
kill -INT $TCPDUMP 2>/dev/null
wait $TCPDUMP 2>/dev/null
total=$(tcpdump -n -r "$T/underlay.pcap" 2>/dev/null | wc -l)
wg_only=$(tcpdump -n -r "$T/underlay.pcap" 'udp port 51821' 2>/dev/null | wc -l)
inner=$(tcpdump -n -r "$T/underlay.pcap" 'net 10.80.0.0/16 or net fd80::/48' 2>/dev/null | wc -l)
check "the underlay between nodes: $wg_only of $total packets are WireGuard (UDP 51821), none is a pod's" \
	test "$total" -ge 20 -a "$wg_only" = "$total" -a "$inner" = 0

finish
