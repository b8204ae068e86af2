#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two weft-managers on one etcd cluster (three members), as an operator
# runs them for availability: one CA, one set of tokens, any manager
# answering for all. 200 nodes registering at once through both get 200
# distinct subnets; one manager killed in the middle of 200 more, and the
# registrations go on through the other; a change made through one is
# seen by a long poll on the other. The admin token rotated through one
# is confirmed there and refused by both; with etcd down, a token that no
# cache holds gets 503 (not 401), and 200 once etcd is back.
#
#   $NS1 loopback: etcd m1 m2 m3 (ports BASE+1..6)
#                  manager A https://127.0.0.1:BASE+7, manager B :BASE+8
. "$(dirname "$0")/lib.sh"

MANAGER=$ROOT/$BUILD/weft-manager
WEFT=$ROOT/$BUILD/weft
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

# --- the admin token rotated through A, used through B -----------------------------------
# code URL TOKEN PATH: the status of a GET.
code() {
	n1 curl -s -o /dev/null --cacert "$TMP/a/ca.crt" -H "Authorization: Bearer $2" "$1$3" -w '%{http_code}'
}
OLD=$ADMIN
check "the admin token works on B (which now holds it in its cache)" test "$(code "$URL_B" "$OLD" /v1/tokens)" = 200
cp "$TMP/a/admin.token" "$TMP/cli-admin.token"
out=$(n1 "$WEFT" token rotate --manager "$URL_A" --ca "$TMP/a/ca.crt" --token-file "$TMP/cli-admin.token" 2>&1)
NEW=$(cat "$TMP/cli-admin.token")
rotated() {
	has "$out" "rotated the admin token" "confirmed" && [ "$NEW" != "$OLD" ] && grep -q '^wefta1:' "$TMP/cli-admin.token"
}
check "weft token rotate through A: a new admin token, confirmed there ($out)" rotated
check "  the new one works on B" test "$(code "$URL_B" "$NEW" /v1/tokens)" = 200
check "  the old one gets 401 on A, at once" test "$(code "$URL_A" "$OLD" /v1/tokens)" = 401
# B read the old one valid before the rotation: it reads an admin token
# from the store again after 5 s (RECHECK_SECONDS in auth.c), then refuses it.
refused_on_b() {
	for _ in $(seq 40); do
		[ "$(code "$URL_B" "$OLD" /v1/tokens)" = 401 ] && return 0
		sleep 0.5
	done
	return 1
}
check "  and on B, once B reads the store again" refused_on_b
check "  where the new one still works" test "$(code "$URL_B" "$NEW" /v1/tokens)" = 200
ADMIN=$NEW

# --- etcd down while a token is checked: 503, not 401 ------------------------------------
# A reader token never used is in no manager's cache: checking it needs
# the store. Last, since etcd is stopped; but started again, and the same
# request must then be answered.
OLD_READER=$(cat "$TMP/a/reader.token")
READER=$(api "$URL_A" POST /v1/tokens/rotate '{"role":"reader"}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
check "a new reader token, not used yet" has "$READER" weftr1:
for i in 1 2 3; do kill "${ETCD[$i]}"; done
for i in 1 2 3; do wait "${ETCD[$i]}" 2>/dev/null; done
unavailable() { # URL: 503, saying why
	local out
	out=$(n1 curl -s --cacert "$TMP/a/ca.crt" -H "Authorization: Bearer $READER" "$1/v1/nodes" -w '\n%{http_code}')
	[ "$(echo "$out" | tail -n 1)" = 503 ] || { echo "not 503: $out"; return 1; }
	has "$out" "the store cannot be read to check the token"
}
check "etcd stopped (all three members): the reader token gets 503 at B, saying why" unavailable "$URL_B"
check "  and at A" unavailable "$URL_A"
for i in 1 2 3; do start_member "$i"; done
check "etcd started again" healthy "$ENDPOINTS"
# What answers the first requests is the managers' business: wait out
# their 503s (bounded), then it must be 200.
answered() { # URL
	local c
	for _ in $(seq 40); do
		c=$(code "$1" "$READER" /v1/nodes)
		[ "$c" != 503 ] && break
		sleep 0.25
	done
	[ "$c" = 200 ] || { echo "status $c"; return 1; }
}
check "  the same request at B: 200" answered "$URL_B"
check "  and at A" answered "$URL_A"
check "  it was confirmed: the reader token before it gets 401 on both" \
	test "$(code "$URL_A" "$OLD_READER" /v1/nodes) $(code "$URL_B" "$OLD_READER" /v1/nodes)" = "401 401"

finish
