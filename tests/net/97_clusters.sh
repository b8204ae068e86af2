#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Clusters joined through WireGuard gateways (docs/clusters.md): a broker,
# cluster A (3 nodes, two of them gateway candidates) and cluster B (2
# nodes), each with its own manager, pods on every node. Every pod of A
# reaches every pod of B over IPv4 and IPv6 through the gateways; a third
# cluster C joins, is reached, goes dark, leaves; A's gateway dies and the
# standby takes over; overlapping CIDRs are refused at join.
#
#   $NET: bridge br0 192.168.97.1/24 fd97::1/64
#         broker :7440, A's manager :7441, B's :7442, C's :7443, D's :7444
#     ├─ a1 .11 (gateway candidate)  a2 .12 (gateway candidate)  a3 .13
#     ├─ b1 .21 (gateway candidate)  b2 .22
#     └─ c1 .31 (gateway candidate, port from CE_IPSEC_NATTPORT)
. "$(dirname "$0")/lib.sh"

MANAGER=$ROOT/$BUILD/weft-manager
WEFTD=$ROOT/$BUILD/weftd
CNI=$ROOT/$BUILD/weft-cni
WEFT=$ROOT/$BUILD/weft
T=$(mktemp -d /tmp/weft-clusters.XXXXXX)
NET=weft-t$$-net
NODE=weft-t$$-
PODS=weft-t$$-p
declare -A WPID MPID PORT CIDR4 CIDR6
PORT[broker]=7440 PORT[a]=7441 PORT[b]=7442 PORT[c]=7443 PORT[d]=7444
CIDR4[a]=10.91.0.0/16 CIDR6[a]=fd91::/48
CIDR4[b]=10.92.0.0/16 CIDR6[b]=fd92::/48
CIDR4[c]=10.93.0.0/16 CIDR6[c]=fd93::/48
CIDR4[d]=10.91.128.0/17 CIDR6[d]=fd94::/48 # overlaps A

cleanup_more() {
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep "^weft-t$$-"); do ns_del "$ns"; done
	cleanup
	for n in a1 a2 a3 b1 b2 c1; do rm -f "/var/run/wireguard/wt$N$n.sock" "/var/run/wireguard/gw$N$n.sock"; done
	rm -rf "$T"
}
trap cleanup_more EXIT

ip netns add "$NET"
ip -n "$NET" link set lo up
ip -n "$NET" link add br0 address 02:77:65:66:74:97 type bridge # fixed: see src/weft/labnet.c
ip -n "$NET" addr add 192.168.97.1/24 dev br0
ip -n "$NET" addr add fd97::1/64 dev br0 nodad
ip -n "$NET" link set br0 up

url() { echo "https://192.168.97.1:${PORT[$1]}"; }
start_manager() { # NAME [FLAGS...]
	local m=$1
	shift
	ip netns exec "$NET" "$MANAGER" --state-dir "$T/m-$m" --listen "192.168.97.1:${PORT[$m]}" "$@" \
		>>"$LOGS/weft-manager-$$-$m.log" 2>&1 &
	MPID[$m]=$!
	PIDS+=(${MPID[$m]})
	for _ in $(seq 100); do
		ip netns exec "$NET" curl -s --cacert "$T/m-$m/ca.crt" "$(url "$m")/v1/health" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
start_cluster_manager() { # NAME
	start_manager "$1" --cluster-cidr "${CIDR4[$1]}" --cluster-cidr "${CIDR6[$1]}"
}
api() { # MANAGER METHOD PATH [BODY]: as its admin; the body, then the status on its own line
	ip netns exec "$NET" curl -s --cacert "$T/m-$1/ca.crt" -H "Authorization: Bearer $(cat "$T/m-$1/admin.token")" \
		-X "$2" "$(url "$1")$3" ${4:+-d "$4"} -w '\n%{http_code}'
}
status_of() { echo "$1" | tail -1; }
weft() { # MANAGER ARGS...: the CLI against that manager, as its admin
	local m=$1
	shift
	ip netns exec "$NET" env WEFT_MANAGER="$(url "$m")" WEFT_CA="$T/m-$m/ca.crt" \
		WEFT_TOKEN_FILE="$T/m-$m/admin.token" "$WEFT" "$@"
}

add_node() { # NAME (a1): namespace, veth on the bridge, address .11
	local n=$1 ns=$NODE$1 k
	k=$(( $(printf '%d' "'${n:0:1}") - 96 ))${n:1}
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip -n "$NET" link add "v$n" type veth peer name eth0 netns "$ns"
	ip -n "$NET" link set "v$n" master br0 up
	ip -n "$ns" addr add "192.168.97.$k/24" dev eth0
	ip -n "$ns" addr add "fd97::$k/64" dev eth0 nodad
	ip -n "$ns" link set eth0 up
	echo "$k" >"$T/$n.k"
}
start_weftd() { # NAME [FLAGS...]: cluster = first letter
	local n=$1 c=${1:0:1} k
	shift
	k=$(cat "$T/$n.k")
	ip netns exec "$NODE$n" "$WEFTD" --state-dir "$T/$n" --socket "$T/$n.sock" --backend userspace \
		--hub-name "wt$N$n" --hub-port 51821 --manager "$(url "$c")" --manager-ca "$T/m-$c/ca.crt" \
		--join-token-file "$T/join-$c.token" --node-name "$n" --endpoint "192.168.97.$k" \
		--metrics-listen 127.0.0.1:9586 --log-level verbose "$@" \
		>>"$LOGS/weft-weftd-$$-$n.log" 2>&1 &
	WPID[$n]=$!
	PIDS+=(${WPID[$n]})
	wait_socket "$T/$n.sock"
}
gateway_flags() { echo --gateway --gateway-device "gw$N$1"; }
show() { "$WEFT" status --socket "$T/$1.sock" --json; } # NODE: weftd's {"op":"show"}, as it is
# The status of NODE's gateway connection to CLUSTER ("" if none).
conn_status() {
	show "$1" | python3 -c '
import json, sys
g = json.load(sys.stdin).get("gateway") or {}
print(next((c["status"] for c in g.get("connections", []) if c["cluster"] == sys.argv[1]), ""))' "$2"
}
wait_for() { # SECONDS CMD...: until CMD succeeds
	local s=$1 i
	shift
	for i in $(seq $((s * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}
is_status() { [ "$(conn_status "$1" "$2")" = "$3" ]; }
registered() { [ "$(status_of "$(api "${1:0:1}" GET "/v1/nodes/$1")")" = 200 ]; }
grant() { # NODE: once it has joined, its manager's admin allows it to be a gateway
	wait_for 10 registered "$1" && weft "${1:0:1}" node gateway "$1" --allow >/dev/null
}
as_node() { # NODE METHOD PATH [BODY]: with the node's own credential; the body, then the status
	ip netns exec "$NET" curl -s --cacert "$T/m-${1:0:1}/ca.crt" \
		-H "Authorization: Bearer $(cat "$T/$1/cluster/credential")" \
		-X "$2" "$(url "${1:0:1}")$3" ${4:+-d "$4"} -w '\n%{http_code}'
}
is_gateway() { [ "$(active_gateway "$1")" = "$2" ]; }
active_gateway() { # CLUSTER: the lease holder's name, from the manager
	api "$1" GET /v1/federation | head -n -1 | python3 -c 'import json,sys; g=json.load(sys.stdin).get("gateway"); print(g["node"] if g else "")' 2>/dev/null
}
cni() { # COMMAND NODE MODE
	local conf='{"cniVersion":"1.0.0","name":"c'$3'","type":"weft","mode":"'$3'","agentSocket":"'$T/$2.sock'"}'
	echo "$conf" | ip netns exec "$NODE$2" env CNI_COMMAND="$1" CNI_CONTAINERID="ctr-$2-$3" \
		CNI_NETNS="/var/run/netns/$PODS-$2-$3" CNI_IFNAME=eth0 CNI_PATH="$ROOT/$BUILD" "$CNI"
}
declare -A ADDR4 ADDR6
add_pod() { # NODE MODE
	local r
	ip netns add "$PODS-$1-$2"
	ip -n "$PODS-$1-$2" link set lo up
	r=$(cni ADD "$1" "$2") || { echo "$r"; return 1; }
	ADDR4[$1-$2]=$(echo "$r" | grep -o '"address":"10\.9[0-9]\.[0-9.]*' | head -1 | cut -d'"' -f4 | cut -d/ -f1)
	ADDR6[$1-$2]=$(echo "$r" | grep -o '"address":"fd9[0-9]:[0-9a-f:]*' | head -1 | cut -d'"' -f4 | cut -d/ -f1)
	[ -n "${ADDR4[$1-$2]}" ] && [ -n "${ADDR6[$1-$2]}" ]
}
# Pods of clusters FROM reach the pods of clusters TO ("a", "b"): failures listed.
matrix() {
	local a b bad=""
	for a in "${!ADDR4[@]}"; do
		for b in "${!ADDR4[@]}"; do
			case "${a:0:1}" in $1) ;; *) continue ;; esac
			case "${b:0:1}" in $2) ;; *) continue ;; esac
			ip netns exec "$PODS-$a" ping -c 1 -W 2 "${ADDR4[$b]}" >/dev/null 2>&1 ||
				ip netns exec "$PODS-$a" ping -c 2 -W 3 "${ADDR4[$b]}" >/dev/null 2>&1 || bad+=" $a>$b(v4)"
			ip netns exec "$PODS-$a" ping -6 -c 1 -W 2 "${ADDR6[$b]}" >/dev/null 2>&1 ||
				ip netns exec "$PODS-$a" ping -6 -c 2 -W 3 "${ADDR6[$b]}" >/dev/null 2>&1 || bad+=" $a>$b(v6)"
		done
	done
	echo "$bad"
}
metrics() { ip netns exec "$NODE$1" curl -s http://127.0.0.1:9586/metrics; }

# --- the broker and two clusters -----------------------------------------------------
# The broker's store: a real etcd (one member, on $NET's loopback), as clusters share it.
BROKER_STORE=()
if command -v etcd >/dev/null; then
	ip netns exec "$NET" etcd --name b1 --data-dir "$T/etcd" --listen-client-urls http://127.0.0.1:2379 \
		--advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster b1=http://127.0.0.1:2380 \
		--logger zap --log-level error >"$T/etcd.log" 2>&1 &
	PIDS+=($!)
	etcd_up() { ip netns exec "$NET" etcdctl --endpoints http://127.0.0.1:2379 --command-timeout 2s endpoint health; }
	wait_for 20 etcd_up || tail -5 "$T/etcd.log"
	BROKER_STORE=(--store etcd:http://127.0.0.1:2379)
else
	skip "the broker on etcd: etcd is not installed (the broker runs on SQLite)"
fi
check "the broker starts (weft-manager --role broker${BROKER_STORE[*]:+, on etcd})" start_manager broker --role broker "${BROKER_STORE[@]}"
out=$("$MANAGER" --role broker --cluster-cidr 10.0.0.0/16 --state-dir "$T/nope" 2>&1)
check "  a broker with a cluster CIDR is refused, saying why" has "$out" "--cluster-cidr with --role broker"
check "the managers of clusters a and b start" start_cluster_manager a
start_cluster_manager b
for c in a b; do
	api "$c" POST /v1/tokens '{"ttl":3600}' | head -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$T/join-$c.token"
done

broker_info() { # FILE: with the broker's admin token, through the CLI
	api broker POST /v1/tokens '{"ttl":3600}' | head -1 | python3 -c '
import base64, json, sys
tok = json.load(sys.stdin)["token"]
ca = open(sys.argv[1]).read()
print(base64.b64encode(json.dumps({"broker": sys.argv[2], "ca": ca, "token": tok}).encode()).decode())' \
		"$T/m-broker/ca.crt" "$(url broker)" >"$1"
	chmod 600 "$1"
}
broker_info "$T/broker-info.subm"
join_body() { # CLUSTER-ID [CIDRS-JSON]
	python3 -c 'import json,sys; b={"brokerInfo": open(sys.argv[1]).read().strip(), "clusterID": sys.argv[2], "cableDriver": "wireguard"}
if len(sys.argv) > 3: b["cidrs"] = json.loads(sys.argv[3])
print(json.dumps(b))' "$T/broker-info.subm" "$@"
}
r=$(api a POST /v1/federation "$(join_body a)")
check "cluster a joins the broker (201)" test "$(status_of "$r")" = 201
check "  with its cluster CIDRs" has "$r" "${CIDR4[a]}" "${CIDR6[a]}"
r=$(api a POST /v1/federation "$(join_body a)")
check "  joining twice is refused (409), naming the broker" sh -c "[ $(status_of "$r") = 409 ] && echo '$r' | grep -q 'already'"
r=$(api b POST /v1/federation '{"brokerInfo":"bm90IGpzb24=","clusterID":"x"}')
check "a bad broker-info is refused (400), saying what it is" sh -c "[ $(status_of "$r") = 400 ] && echo '$r' | grep -q 'brokerInfo: its base64 holds no JSON object'"
r=$(api b POST /v1/federation "$(join_body x | sed 's/"wireguard"/"libreswan"/')")
check "another cable driver is refused (400)" sh -c "[ $(status_of "$r") = 400 ] && echo '$r' | grep -q 'wireguard cable driver only'"

r=$(api b POST /v1/federation "$(join_body b)")
check "cluster b joins the broker (201)" test "$(status_of "$r")" = 201
# --- overlapping CIDRs: refused at join, nothing stored -------------------------------
start_cluster_manager d
brokers_before=$(api broker GET /v1/nodes | head -1)
r=$(api d POST /v1/federation "$(join_body d)")
check "cluster d (${CIDR4[d]}, inside a's ${CIDR4[a]}) is refused at join (409)" test "$(status_of "$r")" = 409
check "  the error names both CIDRs and cluster a" has "$r" "${CIDR4[d]}" "${CIDR4[a]}" 'cluster \"a\"'
check "  d has not joined (404), the broker is unchanged" sh -c "[ \"\$1\" = 404 ] && [ -n \"\$2\" ] && [ \"\$2\" = \"\$3\" ]" _ \
	"$(status_of "$(api d GET /v1/federation)")" "$brokers_before" "$(api broker GET /v1/nodes | head -1)"
kill "${MPID[d]}"
if [ ${#BROKER_STORE[@]} -gt 0 ]; then
	keys=$(ip netns exec "$NET" etcdctl --endpoints http://127.0.0.1:2379 get --prefix /weft/nodes/ --keys-only | grep . | tr '\n' ' ')
	check "  the broker's etcd holds clusters a and b, not d (${keys})" sh -c "[ '$keys' = '/weft/nodes/a /weft/nodes/b ' ]"
fi

# --- nodes, gateways, pods ---------------------------------------------------------------
for n in a1 a2 a3 b1 b2; do add_node $n; done
start_weftd a1 $(gateway_flags a1)
start_weftd a3
# Candidacy is an admin's to grant (issue 14): a node's own credential can
# neither label itself a gateway nor take the lease.
check "a1 (weftd --gateway) joins, but is not the gateway until an admin allows it" wait_for 10 registered a1
check "  its log says so, and how to allow it" wait_for 10 grep -q \
	"gateway: .*403 node \"a1\" is not allowed to be a gateway: an admin allows it with weft node gateway a1 --allow" \
	"$LOGS/weft-weftd-$$-a1.log"
# Not active_gateway, which prints nothing on any error too.
no_gateway() {
	local r
	r=$(api "$1" GET /v1/federation)
	[ "$(status_of "$r")" = 200 ] &&
		echo "$r" | head -n -1 | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin).get("gateway") is not None)'
}
check "  and the manager has no gateway for a" no_gateway a
wait_for 10 test -s "$T/a3/cluster/credential"
r=$(as_node a3 PATCH /v1/nodes/a3 '{"labels":{"submariner.io/gateway":"true"}}')
check "a3 labelling itself a gateway with its own credential: 403, naming the grant" \
	sh -c "[ $(status_of "$r") = 403 ] && echo '$r' | grep -q 'weft node gateway a3 --allow'"
r=$(as_node a3 PUT /v1/nodes/a3/gateway '{}')
check "  taking the lease without the grant: 403" test "$(status_of "$r")" = 403
r=$(as_node a3 PUT /v1/nodes/a3/gateway-candidate '{"allowed":true}')
check "  granting itself: 403" test "$(status_of "$r")" = 403
r=$(ip netns exec "$NET" curl -s --cacert "$T/m-a/ca.crt" -H "Authorization: Bearer $(cat "$T/join-a.token")" \
	-X POST "$(url a)/v1/nodes" -w '\n%{http_code}' \
	-d '{"name":"a9","publicKey":"'"$(wg genkey | wg pubkey)"'","endpoints":["192.168.97.99:1"],"labels":{"submariner.io/gateway":"true"}}')
check "  registering with the label, with a join token: 403" test "$(status_of "$r")" = 403
check "  nothing of that stored: a3 is no candidate, a9 not registered" sh -c \
	"echo '$(api a GET /v1/nodes/a3)' | tail -1 | grep -qx 200 && ! echo '$(api a GET /v1/nodes/a3)' | grep -q gateway && echo '$(api a GET /v1/nodes/a9)' | tail -1 | grep -q 404"
out=$(weft a node gateway a1 --allow)
check "weft node gateway a1 --allow (the admin)" has "$out" "node a1 may be a gateway now"
check "a1's gateway takes the lease" wait_for 10 is_gateway a a1
start_weftd a2 $(gateway_flags a2)
grant a2
start_weftd b1 $(gateway_flags b1)
grant b1
start_weftd b2
sleep 2
check "  a2 stands by (a1 keeps the lease)" is_gateway a a1
check "a1's connection to cluster b is connected" wait_for 20 is_status a1 b connected
check "  and b1's to cluster a" wait_for 10 is_status b1 a connected
check "the gateway device is the node's address on UDP 4500" has "$(show a1)" '"endpoint": "192.168.97.11:4500"'
check "  the key is on disk, 0600" sh -c "[ \$(stat -c %a $T/a1/keys/gateway.key) = 600 ]"
# the keepalive comes a moment later on the side with the greater key
check "  the device's peer is b's gateway, allowed b's CIDRs, keepalive 10" wait_for 10 sh -c \
	"ip netns exec ${NODE}a1 wg show gw${N}a1 dump | awk 'NR==2' | grep -q '192.168.97.21:4500.*${CIDR4[b]}.*10\$'"
for n in a1 a2 a3 b1 b2; do check "node $n: a hub pod" add_pod $n hub; done
check "node a3: a mesh pod" add_pod a3 mesh
check "node b2: a mesh pod" add_pod b2 mesh
check "a3 routes cluster b's CIDR into its hub (to the gateway)" wait_for 10 sh -c "ip -n ${NODE}a3 route show ${CIDR4[b]} | grep -q 'dev wt${N}a3'"
bad=$(matrix a b)
check "every pod of a reaches every pod of b, IPv4 and IPv6${bad:+:$bad}" test -z "$bad"
bad=$(matrix b a)
check "every pod of b reaches every pod of a, IPv4 and IPv6${bad:+:$bad}" test -z "$bad"
# tcpdump exits 0 once it saw one such packet, 124 (timeout) if none came.
unnated() {
	ip netns exec "$PODS-b2-hub" timeout 10 tcpdump -l -c 1 -n -i eth0 "icmp and src ${ADDR4[a3-hub]}" \
		>"$T/unnat.out" 2>"$T/unnat.err" &
	local p=$!
	for _ in $(seq 100); do grep -q listening "$T/unnat.err" && break; sleep 0.05; done
	ip netns exec "$PODS-a3-hub" ping -c 3 -i 0.2 "${ADDR4[b2-hub]}" >/dev/null
	wait $p && grep -q "${ADDR4[a3-hub]} >" "$T/unnat.out"
}
check "  unNATed: b2's pod sees a3's pod address" unnated

# --- between the gateways only WireGuard ----------------------------------------------
ip netns exec "$NET" timeout 15 tcpdump -U -n -i br0 -w "$T/underlay.pcap" \
	'(host 192.168.97.11 or host 192.168.97.21) and not port 7441 and not port 7442 and not port 7440 and not arp' \
	>"$T/tcpdump.log" 2>&1 &
TCPDUMP=$!
for _ in $(seq 50); do grep -q listening "$T/tcpdump.log" && break; sleep 0.1; done
ip netns exec "$PODS-a3-mesh" ping -c 5 -i 0.2 "${ADDR4[b2-hub]}" >/dev/null 2>&1
sleep 0.5
kill -INT $TCPDUMP 2>/dev/null
wait $TCPDUMP 2>/dev/null
gw=$(tcpdump -n -r "$T/underlay.pcap" 'udp port 4500' 2>/dev/null | wc -l)
inner=$(tcpdump -n -r "$T/underlay.pcap" 'net 10.91.0.0/16 or net 10.92.0.0/16' 2>/dev/null | wc -l)
check "between the clusters: $gw packets on UDP 4500, none carries a pod address in clear" test "$gw" -ge 10 -a "$inner" = 0

# --- health, metrics, status ---------------------------------------------------------------
if command -v promtool >/dev/null; then
	# promtool passes an empty input: the metrics must have been read first.
	promtool_ok() { local m; m=$(metrics "$1") && [ -n "$m" ] && echo "$m" | promtool check metrics; }
	check "a1's metrics pass promtool check metrics" promtool_ok a1
else
	skip "promtool check metrics: promtool is not installed (Debian package prometheus)"
fi
m=$(metrics a1)
check "  connection_status to b is 1 (connected), with Submariner's labels" has "$m" \
	"connection_status{cable_driver=\"wireguard\",local_cluster=\"a\",local_hostname=\"a1\",local_endpoint_ip=\"192.168.97.11\",remote_cluster=\"b\",remote_hostname=\"b1\",remote_endpoint_ip=\"192.168.97.21\",status=\"connected\"} 1"
est=$(echo "$m" | grep '^connection_established_timestamp{.*remote_cluster="b"' | awk '{print int($2)}')
check "  connection_established_timestamp is a recent time ($est)" sh -c "[ ${est:-0} -gt \$((\$(date +%s) - 300)) ] && [ ${est:-0} -le \$(date +%s) ]"
check "  gateway_handshake_age_seconds is there" has "$m" 'gateway_handshake_age_seconds{cable_driver="wireguard"'
check "  a2 (standby) has no connection series" none '^connection_status' metrics a2
rx_of() { metrics a1 | grep '^gateway_rx_bytes{.*remote_cluster="b"' | awk '{print $2}'; }
tx_of() { metrics a1 | grep '^gateway_tx_bytes{.*remote_cluster="b"' | awk '{print $2}'; }
sleep 1.2 # the figures are a second old at most
rx0=$(rx_of) tx0=$(tx_of)
ip netns exec "$PODS-b2-hub" ping -c 10 -i 0.1 -s 1000 "${ADDR4[a3-hub]}" >/dev/null 2>&1
sleep 1.2
rx1=$(rx_of) tx1=$(tx_of)
check "  gateway_rx_bytes and gateway_tx_bytes move with traffic (rx $rx0 -> $rx1, tx $tx0 -> $tx1)" \
	sh -c "[ \${1%.*} -ge \$((\${2%.*} + 10000)) ] && [ \${3%.*} -ge \$((\${4%.*} + 10000)) ]" _ "${rx1:-0}" "${rx0:-0}" "${tx1:-0}" "${tx0:-0}"
out=$(weft a clusters 2>&1)
check "weft clusters on a: the gateway a1, cluster b connected" has "$out" "a1" "b" "connected" "${CIDR4[b]}"
node_status() { ip netns exec "$NODE$1" "$WEFT" status --socket "$T/$1.sock" 2>&1; }
out=$(node_status a3)
check "weft status on a3 (not a gateway): the gateway a1, b connected, b's CIDRs" has "$out" \
	"clusters: through gateway a1" "b: connected, ${CIDR4[b]}, ${CIDR6[b]}"
r=$(api a GET /v1/federation)
check "a's manager: cluster a, gateway a1, cluster b's CIDRs, b connected" has "$r" '"clusterID":"a"' '"node":"a1"' "${CIDR4[b]}" '"status":"connected"'
check "  the broker credential is not in it" sh -c "! echo '$r' | grep -q 'credential'"

# --- a third cluster joins, goes dark, leaves ---------------------------------------------
start_cluster_manager c
api c POST /v1/tokens '{"ttl":3600}' | head -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$T/join-c.token"
check "weft broker-info create writes broker-info.subm, 0600" weft broker broker-info create -o "$T/c-info.subm"
check "  mode 0600" sh -c "[ \$(stat -c %a $T/c-info.subm) = 600 ]"
out=$(weft c join "$T/c-info.subm" --cluster-id c --cable-driver wireguard 2>&1)
check "weft join broker-info.subm --cluster-id c joins cluster c${out:+ ($out)}" has "$out" "cluster c joined"
add_node c1
# Its gateway port comes from CE_IPSEC_NATTPORT, which something else holds at first.
ip netns exec "${NODE}c1" python3 -c 'import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("0.0.0.0",4600)); time.sleep(60)' &
HOLDER=$!
PIDS+=($HOLDER)
check "  something else holds UDP 4600 on c1" wait_listen "${NODE}c1" udp 4600
# A masquerade rule on c1 (matching nothing here): its gateway must say so at start.
ip netns exec "${NODE}c1" nft -f - <<'NFT'
table ip weft_test {
	chain post {
		type nat hook postrouting priority srcnat;
		ip saddr 198.51.100.0/24 oifname "nothere0" masquerade
	}
}
NFT
t0=$(date +%s.%N)
CE_IPSEC_NATTPORT=4600 start_weftd c1 $(gateway_flags c1)
grant c1
check "  a gateway on a node that masquerades warns at start, naming the rule" wait_for 10 grep -q \
	'gateway: this node NATs some traffic ("ip saddr 198.51.100.0/24 oifname "nothere0" masquerade", from nft).*exempt the other clusters' "$LOGS/weft-weftd-$$-c1.log"
check "  and one on a node that does not, does not" sh -c "! grep -q 'NATs some traffic' '$LOGS/weft-weftd-$$-a1.log'"
check "  a gateway whose port is taken says why and what to do" wait_for 10 grep -q \
	"cannot bring up WireGuard device gw${N}c1 on UDP port 4600.*another program holds the port" "$LOGS/weft-weftd-$$-c1.log"
kill $HOLDER
wait $HOLDER 2>/dev/null
check "  once the port is free it comes up on 4600 (CE_IPSEC_NATTPORT)" wait_for 15 is_status a1 c connected
check "node c1: a hub pod" add_pod c1 hub
t1=$(date +%s.%N)
check "a's and b's pods reach c's pod" wait_for 20 ip netns exec "$PODS-a3-hub" ping -c 1 -W 1 "${ADDR4[c1-hub]}"
t2=$(date +%s.%N)
bad=$(matrix "[ab]" c)$(matrix c "[ab]")
check "  every pod of a and b reaches c's and back, IPv4 and IPv6 (reached $(printf %.1f "$(echo "$t2 - $t1" | bc)") s after its pod was up)${bad:+:$bad}" test -z "$bad"
# The gateway node dies: weftd and the weft-wg that hosts its gateway device.
kill -9 "${WPID[c1]}" $(pgrep -f "weft-wg gw${N}c1\$")
check "c's gateway killed: a1's connection to c turns to error within 40 s" wait_for 40 is_status a1 c error
check "  connection_status for c is 0 (status error), one series" sh -c \
	"[ \$(ip netns exec ${NODE}a1 curl -s http://127.0.0.1:9586/metrics | grep -c '^connection_status{.*remote_cluster=\"c\"') = 1 ] && \
	 ip netns exec ${NODE}a1 curl -s http://127.0.0.1:9586/metrics | grep '^connection_status{.*remote_cluster=\"c\"' | grep -q 'status=\"error\"} 0'"
status_has() { node_status "$1" | grep -q "$2"; }
check "  weft status on a3 says so: c: error" wait_for 5 status_has a3 "^  c: error, ${CIDR4[c]}"
r=$(api c DELETE /v1/federation)
echo "# leave: $(echo "$r" | tr "\n" " ")"
check "cluster c leaves the broker (200)" test "$(status_of "$r")" = 200
gone() { none . ip -n "$NODE$1" route show "${CIDR4[c]}" && none "${CIDR4[c]}" ip netns exec "$NODE$1" wg show "$2" allowed-ips; }
both_gone() { gone a1 "gw${N}a1" && gone b1 "gw${N}b1"; }
check "  its routes and peer are gone from a1's and b1's gateways" wait_for 10 both_gone
check "  and from a3's hub" wait_for 10 gone a3 "wt${N}a3"
no_c() { none '^  c:' ip netns exec "${NODE}a3" "$WEFT" status --socket "$T/a3.sock"; }
check "  and from weft status on a3" wait_for 5 no_c
check "  a1's metrics have no series for c any more" none 'remote_cluster="c"' metrics a1

# --- the gateway restarts: same key, same peer at b ---------------------------------------
key_a=$(ip netns exec "${NODE}b1" wg show "gw${N}b1" peers)
ifindex() { ip -n "$NODE$1" -o link show "$2" 2>/dev/null | cut -d: -f1; }
idx=$(ifindex a1 "gw${N}a1")
kill -9 "${WPID[a1]}"
wait "${WPID[a1]}" 2>/dev/null # its hub goes with it; weft-wg hosts the gateway device
check "a1's weftd killed: its gateway device lives on in weft-wg (ifindex $idx)" sh -c \
	"[ -n '$idx' ] && [ '$(ifindex a1 "gw${N}a1")' = '$idx' ] && ip netns exec ${NODE}a1 wg show gw${N}a1 peers | grep -q ."
start_weftd a1 $(gateway_flags a1)
check "a1 restarted within its lease: still the gateway" wait_for 10 is_status a1 b connected
check "  it adopted the device: same ifindex, same peers" sh -c "grep -q 'gateway: adopted gw${N}a1 on UDP port 4500 (userspace, hosted by weft-wg)' '$LOGS/weft-weftd-$$-a1.log' && [ -n '$idx' ] && [ '$(ifindex a1 "gw${N}a1")' = '$idx' ]"
check "  b1 still has a's peer under the same key" same "$key_a" "$(ip netns exec "${NODE}b1" wg show "gw${N}b1" peers)"

# --- failover: a1 dies, a2 takes over -------------------------------------------------------
ip netns exec "$PODS-b2-hub" ping -D -i 0.1 -W 1 "${ADDR4[a3-hub]}" >"$T/failover.ping" 2>&1 &
PINGER=$!
PIDS+=($PINGER)
sleep 2
kill -9 "${WPID[a1]}"
check "a1 killed: a2 takes the lease" wait_for 15 is_gateway a a2
check "  a2's connection to b is connected" wait_for 20 is_status a2 b connected
check "  b1's peer for a is a2 now (new key, a2's endpoint)" wait_for 10 sh -c "ip netns exec ${NODE}b1 wg show gw${N}b1 endpoints | grep -q '192.168.97.12:4500' && [ \"\$(ip netns exec ${NODE}b1 wg show gw${N}b1 peers)\" != '$key_a' ]"
check "  weft status on a3: through gateway a2" wait_for 10 status_has a3 "through gateway a2"
check "  cross-cluster traffic resumes" wait_for 20 ip netns exec "$PODS-b2-hub" ping -c 1 -W 1 "${ADDR4[a3-hub]}"
sleep 1
kill -INT $PINGER 2>/dev/null
wait $PINGER 2>/dev/null
gap=$(awk -F'[][]' '/bytes from/ { t = $2; if (last && t - last > max) max = t - last; last = t } END { printf "%.2f", max }' "$T/failover.ping")
echo "# failover: the longest gap in replies from a's pod to b's was $gap s"
wait "${WPID[a1]}" 2>/dev/null
# The design (docs/clusters.md): the lease (4 s) runs out, a2 asks within a
# second, then its key crosses the broker to b1 and the two handshake; 10 s
# leaves that last part 5 s on a loaded machine.
check "  the link came back within the lease, a poll and 5 s (longest gap ${gap} s, at most 10)" \
	sh -c "awk 'BEGIN { exit !($gap > 0 && $gap <= 10) }'"
unset 'ADDR4[a1-hub]' 'ADDR6[a1-hub]' # its node is down
bad=$(matrix b a)
check "  every pod of b reaches every pod of a again (through a2)${bad:+:$bad}" test -z "$bad"
if [ -n "$bad" ]; then
	for n in a2 a3 b1; do
		echo "## $n"; ip -n "$NODE$n" route; ip -n "$NODE$n" -6 route
		ip netns exec "$NODE$n" wg show all dump 2>&1 | cut -c1-200
	done
fi
start_weftd a1 $(gateway_flags a1)
sleep 3
check "a1 back: it stands by, a2 keeps the lease" is_gateway a a2
check "  and a1 has no gateway device" sh -c "! ip -n ${NODE}a1 link show gw${N}a1 2>/dev/null | grep -q ."

# --- an admin takes a gateway's grant back ----------------------------------------------
out=$(weft a node gateway a2 --deny)
check "weft node gateway a2 --deny" has "$out" "node a2 may no longer be a gateway"
check "  a2 steps down at its next renewal, and a1 takes the lease" wait_for 15 is_gateway a a1
check "  a2's gateway device is gone" wait_for 10 sh -c "! ip -n ${NODE}a2 link show gw${N}a2 2>/dev/null | grep -q ."
check "  cross-cluster traffic goes through a1" wait_for 20 ip netns exec "$PODS-b2-hub" ping -c 1 -W 1 "${ADDR4[a3-hub]}"

# --- denied while it was down: what it left behind goes at start -------------------------
kill -9 "${WPID[a1]}"
wait "${WPID[a1]}" 2>/dev/null
check "a1's weftd killed -9: its gateway device lives on in weft-wg" \
	sh -c "ip netns exec ${NODE}a1 wg show gw${N}a1 peers | grep -q ."
out=$(weft a node gateway a1 --deny)
check "  weft node gateway a1 --deny while it is down" has "$out" "node a1 may no longer be a gateway"
start_weftd a1 $(gateway_flags a1)
check "  restarted, it is refused the lease and removes the device it left" wait_for 15 sh -c \
	"! ip -n ${NODE}a1 link show gw${N}a1 2>/dev/null | grep -q . && ! pgrep -f 'weft-wg gw${N}a1\$'"
check "  its log says so" grep -q "gateway: removed gw${N}a1, left from when this node was the gateway" \
	"$LOGS/weft-weftd-$$-a1.log"

finish
