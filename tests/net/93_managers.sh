#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two weft-managers on one etcd cluster (three members), as an operator
# runs them for availability: one CA, one set of tokens, any manager
# answering for all. 200 nodes registering at once through both get 200
# distinct subnets; one manager killed in the middle of 200 more, and the
# registrations go on through the other; a change made through one is
# seen by a long poll on the other.
#
#   $NS1 loopback: etcd m1 m2 m3 (ports BASE+1..6)
#                  manager A https://127.0.0.1:BASE+7, manager B :BASE+8
. "$(dirname "$0")/lib.sh"

MANAGER=$ROOT/$BUILD/weft-manager
SIM=$ROOT/$BUILD/tests/tools/simagents
TMP=$(mktemp -d /tmp/weft-managers.XXXXXX)
BASE=$((40000 + $$ % 1000 * 10))
ETCD=()
cleanup_more() {
	cleanup
	rm -rf "$TMP"
}
trap cleanup_more EXIT
. "$(dirname "$0")/etcd.sh"

if ! command -v etcd >/dev/null; then
	skip "two managers on etcd: etcd is not installed"
	finish
	exit
fi
ip netns add "$NS1"
n1 ip link set lo up
local_ports "$NS1" 50000 60999 # away from $BASE and on
for i in 1 2 3; do start_member "$i"; done
check "a three-member etcd cluster" healthy "$ENDPOINTS"

URL_A=https://127.0.0.1:$((BASE + 7))
URL_B=https://127.0.0.1:$((BASE + 8))
declare -A MPID
start_manager() { # NAME PORT [FLAGS]
	local name=$1 port=$2
	shift 2
	ip netns exec "$NS1" "$MANAGER" --state-dir "$TMP/$name" --listen "127.0.0.1:$port" --store "etcd:$ENDPOINTS" \
		--cluster-cidr 10.90.0.0/16 --node-cidr-mask-size-ipv4 26 --cluster-cidr fd90::/48 "$@" >>"$LOGS/weft-manager-$$-$name.log" 2>&1 &
	MPID[$name]=$!
	PIDS+=($!)
	for _ in $(seq 100); do
		n1 curl -s --cacert "$TMP/a/ca.crt" "https://127.0.0.1:$port/v1/health" 2>/dev/null | grep -q ok && return 0
		sleep 0.1
	done
	return 1
}
check "manager A on etcd (makes the CA and the tokens)" start_manager a $((BASE + 7))
check "manager B on the same store, its certificate signed by A's CA" \
	start_manager b $((BASE + 8)) --tls-ca-cert "$TMP/a/ca.crt" --tls-ca-key "$TMP/a/ca.key"
check "  B made no tokens of its own: A's serve both" test ! -e "$TMP/b/admin.token"
ADMIN=$(cat "$TMP/a/admin.token")
api() { # URL METHOD PATH [BODY]
	n1 curl -s --cacert "$TMP/a/ca.crt" -H "Authorization: Bearer $ADMIN" -X "$2" "$1$3" ${4:+-d "$4"}
}
api "$URL_B" POST /v1/tokens | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$TMP/join"
check "a join token made through B" grep -q '^weftj1:' "$TMP/join"
out=$(n1 curl -s --cacert "$TMP/a/ca.crt" -H "Authorization: Bearer $(cat "$TMP/join")" -X POST "$URL_A/v1/nodes" \
	-d '{"name":"x","publicKey":"'"$(wg genkey | wg pubkey)"'","endpoints":["192.0.2.1:1"]}')
check "  registers a node through A" has "$out" '"credential":"weftn1:x:'

distinct() { # URL: how many distinct IPv4 subnets the nodes hold
	api "$1" GET /v1/nodes | python3 -c 'import json,sys; print(len({n["subnets"][0] for n in json.load(sys.stdin)["nodes"]}))'
}
count() { api "$1" GET /v1/nodes | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["nodes"]))'; }

out=$(n1 timeout 300 "$SIM" register "$URL_A,$URL_B" "$TMP/a/ca.crt" "$TMP/join" 200 16 race 2>&1)
check "200 nodes registering at once through both managers: $(echo "$out" | tail -1)" has "$out" "registered 200 of 200, errors 0"
check "  201 distinct subnets (the 200 and node x), as A sees them" test "$(distinct "$URL_A")" = 201
check "  and as B sees them" test "$(distinct "$URL_B")" = 201

# A change through A, seen by a long poll at B.
rev=$(api "$URL_B" GET /v1/health | grep -o '"revision":[0-9]*' | cut -d: -f2)
api "$URL_B" GET "/v1/peers?since=$rev&wait=20" >"$TMP/poll" &
POLL=$!
sleep 0.5
api "$URL_A" PATCH /v1/nodes/race-7 '{"endpoints":["192.0.2.77:7777"]}' >/dev/null
wait $POLL
check "a change made through A wakes a long poll at B" grep -q '192.0.2.77:7777' "$TMP/poll"

# Kill A while 200 more register; they go on through B.
ip netns exec "$NS1" timeout 300 "$SIM" register "$URL_A,$URL_B" "$TMP/a/ca.crt" "$TMP/join" 200 8 kill \
	>"$TMP/kill.out" 2>&1 &
SIMPID=$!
for _ in $(seq 200); do [ "$(count "$URL_B")" -ge 231 ] && break; sleep 0.05; done
kill -9 "${MPID[a]}"
wait "${MPID[a]}" 2>/dev/null
at_kill=$(($(count "$URL_B") - 201))
wait $SIMPID
check "  (A was killed with $at_kill of the 200 registered)" test "$at_kill" -ge 0 -a "$at_kill" -lt 200
check "manager A killed during 200 more registrations: $(tail -1 "$TMP/kill.out")" grep -q "registered 200 of 200, errors 0" "$TMP/kill.out"
check "  B has them all (401 with node x)" test "$(count "$URL_B")" = 401
check "  on 401 distinct subnets" test "$(distinct "$URL_B")" = 401
check "A restarted: it answers alike" start_manager a $((BASE + 7))
check "  401 nodes" test "$(count "$URL_A")" = 401

finish
