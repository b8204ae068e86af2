#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A cluster: weft-manager and three nodes, each a namespace with its own
# weftd on a shared underlay bridge; pods in mesh and hub modes on every
# node reach each other across nodes, over IPv4 and IPv6, and what crosses
# the underlay is WireGuard only. Then the failures the cluster must ride
# out: the manager killed and restarted, an agent killed and restarted, a
# node added, a node removed. Node credentials are rotated with the agents
# running, and with one down.
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
ip -n "$NET" link add br0 address 02:77:65:66:74:02 type bridge # fixed: see src/weft/labnet.c
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
start_weftd() { # K [ENDPOINT]
	local k=$1 ep=${2:-192.168.77.1$1}
	ip netns exec "$NODE$k" "$WEFTD" --state-dir "$T/n$k" --socket "$T/n$k.sock" --backend userspace \
		--hub-name "wt$N-$k" --hub-port 51821 --manager "$URL" --manager-ca "$T/mgr/ca.crt" \
		--join-token-file "$T/join.token" --node-name "n$k" --endpoint "$ep" --metrics-listen 127.0.0.1:9586 --log-level verbose \
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
	sh -c "[ -n '$sub1' ] && ip -n ${NODE}2 route show $sub1 | grep -q 'dev wt$N-2'"

for k in 1 2 3; do
	check "node $k: a mesh pod" add_pod $k mesh
	check "node $k: a hub pod" add_pod $k hub
done
bad=$(matrix)
check "every pod reaches every pod on the other nodes, IPv4 and IPv6 (mesh and hub)${bad:+:$bad}" test -z "$bad"

# --- metrics ----------------------------------------------------------------------------
metrics() { ip netns exec "$NODE$1" curl -s http://127.0.0.1:9586/metrics; }
if command -v promtool >/dev/null; then
	# promtool passes an empty input: the metrics must have been read first.
	promtool_ok() { local m; m=$(metrics "$1") && [ -n "$m" ] && echo "$m" | promtool check metrics; }
	check "node 1's metrics pass promtool check metrics" promtool_ok 1
else
	skip "promtool check metrics: promtool is not installed (Debian package prometheus)"
fi
connected_to() { metrics 1 | grep "^weft_peer_connected{local_hostname=\"n1\",device=\"wt$N-1\",kind=\"node\",remote=\"$1\"" | grep -q ' 1$'; }
check "  n1 is connected to n2 and n3 (weft_peer_connected 1)" sh -c "$(declare -f metrics connected_to); NODE=$NODE N=$N; connected_to n2 && connected_to n3"
rx_of() { metrics 1 | grep '^weft_peer_rx_bytes_total{.*remote="n2"' | awk '{print $2}'; }
rx0=$(rx_of)
ip netns exec "$PODS-2-mesh" ping -c 5 -i 0.2 "${ADDR4[1-mesh]}" >/dev/null 2>&1
rx1=$(rx_of)
check "  bytes from n2 move with traffic ($rx0 -> $rx1)" test "${rx1:-0}" -gt "${rx0:-0}"
check "  the hub pod is a peer of kind pod" has "$(metrics 1)" 'kind="pod",remote="ctr-1-hub/eth0"'

# --- the underlay carries WireGuard only ----------------------------------------------
# Between nodes: not their TLS to the manager (192.168.77.1), nor neighbour discovery.
ip netns exec "$NET" timeout 15 tcpdump -U -n -i br0 -w "$T/underlay.pcap" \
	'not arp and not icmp6 and not ip6 multicast and not host 192.168.77.1 and not host fd77::1' \
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

# --- bad input to the API: refused, named, nothing stored ------------------------------
revision() { ip netns exec "$NET" curl -s --cacert "$T/mgr/ca.crt" "$URL/v1/health" | grep -o '"revision":[0-9]*' | cut -d: -f2; }
cred1=$(cat "$T/n1/cluster/credential")
as() { # TOKEN METHOD PATH [BODY]: the status, then the body
	ip netns exec "$NET" curl -s --cacert "$T/mgr/ca.crt" -H "Authorization: Bearer $1" -X "$2" "$URL$3" \
		${4:+-d "$4"} -w '\n%{http_code}'
}
rev=$(revision)
out=$(as "$(cat "$T/join.token")" POST /v1/nodes '{"name":"n9",')
check "malformed JSON: 400, saying where" has "$out" 'not valid JSON' '400'
out=$(as "weftj1:abc:wrong" POST /v1/nodes '{"name":"n9"}')
check "a wrong token: 401" has "$out" 'not valid' '401'
out=$(as "$cred1" PATCH /v1/nodes/n2 '{"endpoints":["192.168.77.99:1"]}')
check "node n1 writing n2's record: 403, both named" has "$out" 'n1\" may change only its own record, not \"n2' '403'
out=$(as "$(cat "$T/join.token")" POST /v1/nodes '{"name":"n9","publicKey":"'"$(wg genkey | wg pubkey)"'","endpoints":["192.168.77.99:1"],"subnets":["10.99.0.0/24"]}')
check "a subnet outside the cluster CIDR: 400, both named" has "$out" '10.99.0.0/24' '10.80.0.0/16' '400'
out=$(as "$cred1" DELETE /v1/tokens/x)
check "a node deleting a token: 403" has "$out" '403'
out=$(as "$(cat "$T/mgr/reader.token")" DELETE /v1/nodes/n2)
check "the reader removing a node: 403" has "$out" '403'
out=$(ip netns exec "$NET" curl -s --cacert "$T/mgr/ca.crt" -X POST "$URL/v1/nodes" -d '{}' -w '\n%{http_code}')
check "no token at all: 401" has "$out" 'no token' '401'
check "  and none of these stored anything (revision $rev)" same "$rev" "$(revision)"
# The same request over HTTPS, as the control: a manager that is down
# answers plain HTTP with nothing too.
check "plain HTTP gets nowhere (HTTPS does)" sh -c "ip netns exec $NET curl -s -m 3 --cacert $T/mgr/ca.crt $URL/v1/health | grep -q ok &&
	! ip netns exec $NET curl -s -m 3 http://192.168.77.1:7443/v1/health | grep -q ok"

# --- a node's credential rotated, its agent running ------------------------------------
WEFT=$ROOT/$BUILD/weft
wcli() { ip netns exec "$NET" "$WEFT" "$@" --manager "$URL" --ca "$T/mgr/ca.crt" --token-file "$T/mgr/admin.token"; }
code() { as "$@" | tail -1; }
check "node n1 fetching n2's new credential: 403" test "$(code "$cred1" POST /v1/nodes/n2/credentials)" = 403
check "  nor may an admin fetch a node's: 403" test "$(code "$(cat "$T/mgr/admin.token")" POST /v1/nodes/n1/credentials)" = 403
check "  a node may not ask for a rotation: 403" test "$(code "$cred1" POST /v1/nodes/n1/credential-rotation)" = 403
out=$(wcli node credentials rotate n1 2>&1)
check "weft node credentials rotate n1: its agent took a new one ($out)" has "$out" "node n1 rotated its credential"
new1=$(cat "$T/n1/cluster/credential")
check "  STATE/cluster/credential changed, mode 0600" \
	sh -c "[ '$new1' != '$cred1' ] && [ \$(stat -c %a $T/n1/cluster/credential) = 600 ]"
check "  the old credential gets 401" test "$(code "$cred1" GET /v1/nodes/n1)" = 401
check "  the new one works" test "$(code "$new1" GET /v1/nodes/n1)" = 200
check "  the record says when" has "$(api GET /v1/nodes/n1)" '"credentialRotation":{"rotated":'
# Our own record comes in the long poll too: what show says and what is on
# disk follow it.
own_rotated() { # K: show's "node" and STATE/cluster/node.json both say it rotated
	local i
	for i in $(seq 50); do
		show "$1" | python3 -c 'import json,sys
recs = (json.load(sys.stdin)["node"], json.load(open(sys.argv[1])))
sys.exit(0 if all("rotated" in r.get("credentialRotation", {}) for r in recs) else 1)' "$T/n$1/cluster/node.json" &&
			return 0
		sleep 0.1
	done
	return 1
}
check "  n1's own record says so, in show and on disk" own_rotated 1
out=$(wcli node credentials rotate n2 2>&1)
check "n2 rotated too ($out)" has "$out" "node n2 rotated its credential"
# n1's long poll, on its new credential, follows that change.
caught_up() {
	local want
	want=$(revision)
	for _ in $(seq 100); do
		[ "$(show 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["manager"]["revision"])')" -ge "$want" ] && return 0
		sleep 0.1
	done
	return 1
}
check "  n1 still follows the manager (its revision catches up)" caught_up
check "  n1 is connected, with no error" sh -c "$(declare -f show); T=$T; show 1 | python3 -c 'import json,sys; m=json.load(sys.stdin)[\"manager\"]; sys.exit(0 if m[\"connected\"] and not m.get(\"error\") else 1)'"
check "  every node keeps its peers" all_peered
check "  pods still reach across" wait_ping "$PODS-2-mesh" "${ADDR4[1-hub]}" 5
cred1=$new1

# --- token guessing is slowed, for the guesser only ------------------------------------
guess() { # NS TOKEN: the status
	ip netns exec "$1" curl -s -o /dev/null --cacert "$T/mgr/ca.crt" -H "Authorization: Bearer $2" "$URL/v1/nodes" \
		-w '%{http_code}'
}
codes=$(for i in $(seq 24); do guess "${NODE}3" "weftr1:guess$i"; echo -n ' '; done)
# 20 at once, then one every 3 s: the bucket may leak one or two while
# these go out, but the first 20 are never refused and the last is.
check "24 bad tokens from node 3's address: 401 for the first 20, then 429 (${codes})" sh -c \
	"set -- $codes; for i in \$(seq 20); do [ \$1 = 401 ] || exit 1; shift; done; [ \$4 = 429 ] && [ \$3 = 429 ]"
out=$(ip netns exec "${NODE}3" curl -s -i --cacert "$T/mgr/ca.crt" -H "Authorization: Bearer weftr1:guess25" "$URL/v1/nodes")
check "  with Retry-After, and the reason naming the source" has "$out" "Retry-After: " "too many bad tokens from 192.168.77.13"
check "  a token seen valid lately still works from there (the admin's)" \
	test "$(guess "${NODE}3" "$(cat "$T/mgr/admin.token")")" = 200
check "  another source's bad token still gets 401, not 429" test "$(guess "$NET" weftr1:other)" = 401
check "  and its reader token works" test "$(guess "$NET" "$(cat "$T/mgr/reader.token")")" = 200

# --- the manager killed: pods keep talking; restarted: agents resync ------------------------
ip netns exec "$PODS-2-mesh" ping -c 30 -i 0.1 "${ADDR4[1-hub]}" >"$T/ping-mgr.log" 2>&1 &
PING=$!
sleep 0.5
kill -9 "$MPID"
wait "$MPID" 2>/dev/null
sleep 1
check "the manager killed: pods on different nodes still talk" ip netns exec "$PODS-3-mesh" ping -c 2 -W 2 "${ADDR4[1-mesh]}"
wait $PING
check "  a ping across the kill lost nothing ($(grep -o '[0-9]* received' "$T/ping-mgr.log"))" grep -q ' 0% packet loss' "$T/ping-mgr.log"
away() { for _ in $(seq 100); do show 1 | grep -q '"connected": *false' && return 0; sleep 0.1; done; return 1; }
check "  the agents say the manager is away" away
check "the manager restarted" start_manager
connected() { show "$1" | grep -q '"connected": *true'; }
wait_connected() { for _ in $(seq 200); do connected 1 && connected 2 && connected 3 && return 0; sleep 0.1; done; return 1; }
check "  the agents are back in touch" wait_connected
check "  and still have every peer" all_peered

# --- an agent killed and restarted: traffic resumes, no peer lost ------------------------
before=$(show 1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["peers"]))')
ip netns exec "$PODS-2-mesh" ping -D -c 60 -i 0.1 -W 1 "${ADDR4[1-mesh]}" >"$T/ping-agent.log" 2>&1 &
PING=$!
sleep 1
kill -9 "${WPID[1]}"
wait "${WPID[1]}" 2>/dev/null
start_weftd 1
wait $PING
gap=$(python3 - "$T/ping-agent.log" <<'EOF2'
import re, sys
ts = [float(m.group(1)) for m in re.finditer(r'^\[(\d+\.\d+)\].*icmp_seq', open(sys.argv[1]).read(), re.M)]
print(f"{max(b - a for a, b in zip(ts, ts[1:])):.2f}" if len(ts) > 1 else "inf")
EOF2
)
check "n1's agent killed -9 and restarted: traffic from n2 to a mesh pod on n1 resumes (longest gap ${gap} s)" \
	python3 -c "import sys; sys.exit(0 if float('$gap') < 10 else 1)"
check "  and to its hub pod" wait_ping "$PODS-2-mesh" "${ADDR4[1-hub]}" 5
after=$(show 1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["peers"]))')
check "  no peer lost ($before before, $after after)" same "$before" "$after"
check "  the other nodes still have it" all_peered

# --- a node moves to another address: its new endpoint reaches every peer ---------------
ip -n "${NODE}3" addr del 192.168.77.13/24 dev eth0
ip -n "${NODE}3" addr add 192.168.77.23/24 dev eth0
kill "${WPID[3]}"
wait "${WPID[3]}" 2>/dev/null
start_weftd 3 192.168.77.23
endpoint_of() { # K NODE: the endpoint node K's hub has for NODE
	show "$1" | python3 -c 'import json,sys; print([p.get("endpoint","") for p in json.load(sys.stdin)["peers"] if p.get("node")==sys.argv[1]][0])' "$2"
}
moved() { for _ in $(seq 100); do [ "$(endpoint_of 1 n3)" = 192.168.77.23:51821 ] && [ "$(endpoint_of 2 n3)" = 192.168.77.23:51821 ] && return 0; sleep 0.1; done; return 1; }
check "node 3 restarted with a new endpoint: the others follow (n1 has $(endpoint_of 1 n3))" moved
check "  the manager's record too" has "$(api GET /v1/nodes/n3)" '"endpoints":["192.168.77.23:51821"]'
check "  pods reach node 3's pods at its new address" wait_ping "$PODS-1-mesh" "${ADDR4[3-hub]}" 5

# --- a node added: every node has it within seconds; removed: gone everywhere ---------
add_node 4
t0=$(date +%s.%N)
start_weftd 4
check "node 4 joins" wait_peers 4 'n1 n2 n3'
all_have4() { wait_peers 1 'n2 n3 n4' && wait_peers 2 'n1 n3 n4' && wait_peers 3 'n1 n2 n4'; }
check "  every other node has it as a peer" all_have4
took=$(echo "$(date +%s.%N) - $t0" | bc)
echo "# node 4's agent started to every peer in place: ${took} s"
subnets4() { api GET /v1/nodes | grep -o '"10\.80\.[0-9]*\.0/24"' | sort -u | wc -l; }
check "node 4 gets a subnet of its own" test "$(subnets4)" = 4
check "  a pod on node 4 reaches pods elsewhere" add_pod 4 mesh
check "  over IPv4" wait_ping "$PODS-4-mesh" "${ADDR4[2-hub]}" 5
check "  and IPv6" ip netns exec "$PODS-4-mesh" ping -6 -c 2 -W 3 "${ADDR6[3-mesh]}"
sub4=$(api GET /v1/nodes/n4 | grep -o '"subnets":\["10\.80\.[0-9]*\.0/24' | cut -d'"' -f4)
cni DEL 4 mesh >/dev/null
unset 'ADDR4[4-mesh]' 'ADDR6[4-mesh]' # its pod is gone
kill "${WPID[4]}"
wait "${WPID[4]}" 2>/dev/null
out=$(wcli node credentials rotate n4 --wait 2 2>&1)
rc=$?
check "n4's agent down: its rotation is not done within --wait 2, exit 1 ($rc)" test "$rc" = 1
check "  the message says it stays pending ($out)" has "$out" "has not taken a new credential within 2 s" "request stays"
check "  and the record still asks for it" has "$(api GET /v1/nodes/n4)" '"requested":'
check "node 4 removed through the API" has "$(api DELETE /v1/nodes/n4)" '"removed":"n4"'
all_lost4() { wait_peers 1 'n2 n3' && wait_peers 2 'n1 n3' && wait_peers 3 'n1 n2'; }
check "  its peer disappears everywhere" all_lost4
check "  and its metrics series" none 'remote="n4"' metrics 1
check "  and its routes ($sub4)" sh -c "! ip -n ${NODE}1 route | grep -q '$sub4' && ! ip -n ${NODE}2 route | grep -q '$sub4'"
bad=$(matrix)
check "the others still reach each other${bad:+:$bad}" test -z "$bad"

# --- our record on disk unreadable: weftd names the field, and joins again ----------------
sub2=$(api GET /v1/nodes/n2 | grep -o '"subnets":\[[^]]*\]')
kill "${WPID[2]}"
wait "${WPID[2]}" 2>/dev/null
python3 - "$T/n2/cluster/node.json" <<'EOF2'
import json, sys
rec = json.load(open(sys.argv[1]))
rec["created"] = "yesterday"
json.dump(rec, open(sys.argv[1], "w"))
EOF2
start_weftd 2
check "n2 restarted with a node.json it cannot read: a warning names the field" \
	grep -q "ignoring our record in $T/n2/cluster/node.json: created \"yesterday\"" "$LOGS/weft-weftd-$$-2.log"
created_int() { python3 -c 'import json,sys; sys.exit(0 if isinstance(json.load(open(sys.argv[1]))["created"], int) else 1)' "$1"; }
check "  it joined again, its record written anew" created_int "$T/n2/cluster/node.json"
check "  with the same subnets ($sub2)" has "$(api GET /v1/nodes/n2)" "$sub2"
check "  and the same peers" wait_peers 2 'n1 n3'

finish
