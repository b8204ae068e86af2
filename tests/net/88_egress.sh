#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Pods' egress (issue 15): a pod reaches a host outside the cluster, which
# sees the node's address, not the pod's (weftd's "table inet weft"
# masquerades it); a pod reaching a pod on another node keeps its address.
# A pod reaches its own node and another node's underlay address, and no
# pod address is ever seen on the underlay. A network whose conflist says
# "ipMasq": false keeps its pod address. Then weftd restarted with
# --no-ip-masq: only the rule to the nodes stays, and the pod's way out
# goes; stopped with no pod left, weftd removes the table.
#
#   $NET: bridge br0 192.168.88.1/24 fd88::1/64, weft-manager on :7443
#     ├─ $HOST eth0 .100 fd88::100: outside the cluster, no route to the pods
#     ├─ $NODE1 eth0 .11 fd88::11 ── weftd n1 ── pods $PODS-1-mesh, $PODS-1-hub
#     └─ $NODE2 eth0 .12 fd88::12 ── weftd n2 ── pod $PODS-2-mesh
#   cluster CIDRs 10.89.0.0/16 fd89::/48
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/weft-egress.XXXXXX)
HOST=weft-t$$-host
PODS=weft-t$$-p
NET4=192.168.88
NET6=fd88
CIDRS="10.89.0.0/16 fd89::/48"
. "$(dirname "$0")/cluster.sh"

show() { # K: weftd's {"op":"show"}, as weft status --json prints it
	ip netns exec "$NODE$1" "$WEFT" status --socket "$T/n$1.sock" --json
}
# The masquerade's excluded subnets as weftd shows them, sorted, one line.
excluded() { show "$1" | python3 -c 'import json,sys; m=json.load(sys.stdin).get("masquerade",{}); print(" ".join(sorted(m.get("excluded",[]))) if m.get("applied") else "not applied: %s" % m.get("error"))'; }
subnets() { # K: the node's subnets at the manager, one line
	api GET "/v1/nodes/n$1" | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["subnets"]))'
}
wait_excluded() { # K WANT
	for _ in $(seq 100); do
		[ "$(excluded "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	echo "excluded: $(excluded "$1"), want $2"
	return 1
}
cni() { # COMMAND NODE MODE: pod $PODS-NODE-MODE (mode "direct": mesh, "ipMasq": false)
	local conf='{"cniVersion":"1.0.0","name":"c'$3'","type":"weft","mode":"'$3'","agentSocket":"'$T/n$2.sock'"}'
	[ "$3" = direct ] && conf='{"cniVersion":"1.0.0","name":"cd","type":"weft","mode":"mesh","ipMasq":false,"agentSocket":"'$T/n$2.sock'"}'
	echo "$conf" | ip netns exec "$NODE$2" env CNI_COMMAND="$1" CNI_CONTAINERID="ctr-$2-$3" \
		CNI_NETNS="/var/run/netns/$PODS-$2-$3" CNI_IFNAME=eth0 CNI_PATH="$ROOT/$BUILD" "$CNI"
}
declare -A ADDR4 ADDR6
add_pod() { # NODE MODE
	local r
	ip netns add "$PODS-$1-$2"
	ip -n "$PODS-$1-$2" link set lo up
	r=$(cni ADD "$1" "$2") || { echo "$r"; return 1; }
	ADDR4[$1-$2]=$(echo "$r" | grep -o '"address":"10\.89\.[0-9.]*' | head -1 | cut -d'"' -f4)
	ADDR6[$1-$2]=$(echo "$r" | grep -o '"address":"fd89:[0-9a-f:]*' | head -1 | cut -d'"' -f4)
	[ -n "${ADDR4[$1-$2]}" ] && [ -n "${ADDR6[$1-$2]}" ]
}
# A capture of ICMP in namespace $1 on eth0 (or IFACE), into $T/$2.pcap (a
# first echo request may be lost to neighbour discovery: counts are at
# least 1): capture_start NS NAME [IFACE [FILTER]], then capture_stop, then
# seen NAME FILTER.
capture_start() {
	ip netns exec "$1" timeout 120 tcpdump -U -n -i "${3:-eth0}" -w "$T/$2.pcap" "${4:-icmp or icmp6}" >"$T/$2.log" 2>&1 &
	CAPTURE=$!
	for _ in $(seq 50); do grep -q listening "$T/$2.log" && return 0; sleep 0.1; done
	return 1
}
capture_stop() {
	sleep 0.3
	kill -INT "$CAPTURE" 2>/dev/null
	wait "$CAPTURE" 2>/dev/null
}
seen() { # NAME FILTER: how many echo requests match FILTER
	tcpdump -n -r "$T/$1.pcap" "(icmp[icmptype] == icmp-echo or (icmp6 and ip6[40] == 128)) and ($2)" 2>"$T/seen.err" | wc -l
	[ -s "$T/seen.err" ] && grep -v "^reading from" "$T/seen.err" >&2
}

# --- a manager, two nodes, a host outside the cluster ----------------------------
check "the manager starts" start_manager
api POST /v1/tokens '{"ttl":3600}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$T/join.token"
plug "$HOST" vh 192.168.88.100 fd88::100
for k in 1 2; do
	plug "$NODE$k" "v$k" "192.168.88.1$k" "fd88::1$k"
	check "node $k joins" start_weftd $k
done
sub1=$(subnets 1)
sub2=$(subnets 2)
want=$(echo "10.89.0.0/16 fd89::/48 $sub1 $sub2" | tr ' ' '\n' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
check "n1 masquerades, excluding the cluster's CIDRs, its own subnets and n2's ($want)" wait_excluded 1 "$want"
check "  and so does n2" wait_excluded 2 "$want"
check "  the table is weft's own, both families" \
	sh -c "ip netns exec ${NODE}1 nft list table inet weft | grep -q 'ip saddr @pods4 ip saddr != @direct4 ip daddr != @keep4 masquerade' &&
	       ip netns exec ${NODE}1 nft list table inet weft | grep -q 'ip6 saddr @pods6 ip6 saddr != @direct6 ip6 daddr != @keep6 masquerade'"
check "  weft status says so" sh -c "ip netns exec ${NODE}1 $WEFT status --socket $T/n1.sock | grep -q '^masquerade: on (table inet weft)'"
for p in 1-mesh 1-hub 2-mesh; do check "pod $p" add_pod "${p%-*}" "${p#*-}"; done

# --- out of the cluster: the host sees the node ------------------------------------
# Everything on the underlay with a pod address in it, whole run long.
check "the underlay is watched for pod addresses" capture_start "$NET" clear br0 'net 10.89.0.0/16 or net fd89::/48'
UNDERLAY=$CAPTURE
check "the host is listening on the underlay" capture_start "$HOST" out
check "a mesh pod reaches the host outside the cluster" ip netns exec "$PODS-1-mesh" ping -c 2 -W 3 192.168.88.100
check "  over IPv6 too" ip netns exec "$PODS-1-mesh" ping -6 -c 2 -W 3 fd88::100
check "a hub pod too" ip netns exec "$PODS-1-hub" ping -c 2 -W 3 192.168.88.100
check "  over IPv6 too" ip netns exec "$PODS-1-hub" ping -6 -c 2 -W 3 fd88::100
capture_stop
n4=$(seen out 'src host 192.168.88.11')
n6=$(seen out 'src host fd88::11')
np=$(seen out 'src net 10.89.0.0/16 or src net fd89::/48')
check "the host saw the node's addresses: $n4 requests from 192.168.88.11, $n6 from fd88::11" test "$n4" -ge 1 -a "$n6" -ge 1
check "  and never a pod's ($np)" test "$np" = 0

# --- inside the cluster: the pod's own address ---------------------------------------
check "the pod on n2 is listening" capture_start "$PODS-2-mesh" across
check "a pod on n1 reaches the pod on n2" ip netns exec "$PODS-1-mesh" ping -c 2 -W 3 "${ADDR4[2-mesh]}"
check "  over IPv6 too" ip netns exec "$PODS-1-mesh" ping -6 -c 2 -W 3 "${ADDR6[2-mesh]}"
capture_stop
n4=$(seen across "src host ${ADDR4[1-mesh]}")
n6=$(seen across "src host ${ADDR6[1-mesh]}")
nn=$(seen across 'src net 192.168.88.0/24 or src net fd88::/64')
check "the pod on n2 saw the pod's addresses: $n4 requests from ${ADDR4[1-mesh]}, $n6 from ${ADDR6[1-mesh]}" \
	test "$n4" -ge 1 -a "$n6" -ge 1
check "  and none from a node ($nn)" test "$nn" = 0

# --- the nodes: its own, its host-network services, the other nodes ------------------
ip netns exec "${NODE}1" python3 -m http.server --bind :: 8080 --directory "$T" >/dev/null 2>&1 &
PIDS+=($!)
echo weft >"$T/hello"
served() { # POD URL: the node's service answers
	for _ in $(seq 30); do
		[ "$(ip netns exec "$1" curl -s -m 3 "$2/hello")" = weft ] && return 0
		sleep 0.2
	done
	return 1
}
check "a mesh pod reaches its node's host-network service" served "$PODS-1-mesh" http://192.168.88.11:8080
check "  over IPv6 too" served "$PODS-1-mesh" "http://[fd88::11]:8080"
check "a hub pod too" served "$PODS-1-hub" http://192.168.88.11:8080
check "a pod on n2 reaches n1's service, by n1's underlay address" served "$PODS-2-mesh" http://192.168.88.11:8080
check "  and n1's own address in the pod subnet" served "$PODS-2-mesh" "http://$(subnets 1 | cut -d' ' -f1 | sed 's|0/[0-9]*$|1|'):8080"
check "a pod on n1 reaches n2's underlay address" ip netns exec "$PODS-1-mesh" ping -c 2 -W 3 192.168.88.12
check "  a hub pod too" ip netns exec "$PODS-1-hub" ping -c 2 -W 3 192.168.88.12
CAPTURE=$UNDERLAY
capture_stop
nc=$(tcpdump -n -r "$T/clear.pcap" 2>/dev/null | wc -l)
check "no pod address crossed the underlay in the clear ($nc packets)" test "$nc" = 0

# --- a network that asked for no masquerade (its address is seen outside) ---------- ----------------------------------------
check "a pod of a network with \"ipMasq\": false" add_pod 1 direct
check "  weft status lists it" sh -c "ip netns exec ${NODE}1 $WEFT status --socket $T/n1.sock | grep -q '^  and from: ${ADDR4[1-direct]}/32, ${ADDR6[1-direct]}/128'"
check "  its table holds it" sh -c "ip netns exec ${NODE}1 nft list set inet weft direct4 | grep -q '${ADDR4[1-direct]}'"
check "the host is listening again" capture_start "$HOST" direct
ip netns exec "$PODS-1-direct" ping -c 2 -W 1 192.168.88.100 >/dev/null 2>&1 # the host has no way back
capture_stop
nd=$(seen direct "src host ${ADDR4[1-direct]}")
nn=$(seen direct 'src host 192.168.88.11')
check "  the host saw its pod address ($nd requests), not the node's ($nn)" test "$nd" -ge 1 -a "$nn" = 0
check "  yet it reaches n2 as n1, masqueraded" ip netns exec "$PODS-1-direct" ping -c 2 -W 3 192.168.88.12
del_direct() {
	cni DEL 1 direct >/dev/null && ! ip netns exec "${NODE}1" nft list set inet weft direct4 | grep -q "${ADDR4[1-direct]}"
}
check "  DEL takes it out of the table" del_direct

# --- a restart rebuilds it; --no-ip-masq removes it -------------------------------
kill "${WPID[1]}"
wait "${WPID[1]}" 2>/dev/null
check "the table outlives weftd (pods keep their way out)" ip netns exec "${NODE}1" nft list table inet weft
check "weftd restarts" start_weftd 1
check "  one table again, as before" sh -c "[ \$(ip netns exec ${NODE}1 nft list tables | grep -c 'inet weft') = 1 ]"
check "  excluding the same" wait_excluded 1 "$want"
kill "${WPID[1]}"
wait "${WPID[1]}" 2>/dev/null
check "weftd restarts with --no-ip-masq" start_weftd 1 --no-ip-masq
only_nodes() {
	local t
	t=$(ip netns exec "${NODE}1" nft list table inet weft) || return 1
	echo "$t" | grep -q 'ip saddr @pods4 ip daddr @nodes4 masquerade' && ! echo "$t" | grep -q keep4 &&
		ip netns exec "${NODE}1" nft list set inet weft nodes4 | grep -q '192.168.88.12'
}
check "  only the rule to the nodes is left" only_nodes
check "  weft status says masquerade is off but to the nodes" \
	sh -c "ip netns exec ${NODE}1 $WEFT status --socket $T/n1.sock | grep -q \"^masquerade: off (pods' egress keeps its pod address, but to the cluster's nodes)\""
check "  the pod no longer reaches the host" sh -c "! ip netns exec $PODS-1-mesh ping -c 1 -W 2 192.168.88.100"
check "  but still n2's underlay address" ip netns exec "$PODS-1-mesh" ping -c 2 -W 3 192.168.88.12
check "  and the pod on n2" ip netns exec "$PODS-1-mesh" ping -c 2 -W 3 "${ADDR4[2-mesh]}"

for p in 1-mesh 1-hub 2-mesh; do cni DEL "${p%-*}" "${p#*-}" >/dev/null; done
kill "${WPID[1]}"
wait "${WPID[1]}" 2>/dev/null
check "weftd stopped with no pod left removes the table" sh -c "! ip netns exec ${NODE}1 nft list table inet weft 2>/dev/null"
finish
