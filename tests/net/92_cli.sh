#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# weft, the command line, against a real weft-manager and a real weftd in a
# namespace: join tokens made, listed and deleted; a node joined by hand,
# listed and removed; a reader token that may read and not write; the
# admin and reader tokens rotated (the old one works while the new one is
# pending, and gets 401 once it is used); a registration sent again after
# its answer was lost; settings
# from flags, the environment and a config file; and every kind of wrong
# input refused with a message that names it, exit 2 for usage and 1 for
# failures. Then weftd on its own (no cluster): weft status, weft pods and
# weft diagnose between two mesh pods.
#
#   ┌── $NS1 ─────────────────────────────────────────────────────────┐
#   │ weft-manager 127.0.0.1:$MPORT (state $T/mgr)                    │
#   │ weftd (--pod-subnet 10.72.1.0/24) ── veth ── $C1, $C2 (mesh)    │
#   │ weft ... (every command runs here)                              │
#   └─────────────────────────────────────────────────────────────────┘
. "$(dirname "$0")/lib.sh"

WEFT=$ROOT/$BUILD/weft
MANAGER=$ROOT/$BUILD/weft-manager
WEFTD=$ROOT/$BUILD/weftd
CNI=$ROOT/$BUILD/weft-cni
T=$(mktemp -d /tmp/weft-cli.XXXXXX)
MPORT=$((17000 + N))
URL=https://127.0.0.1:$MPORT
SOCK=$T/weftd.sock
C1=weft-t$$-c1
C2=weft-t$$-c2
unset WEFT_MANAGER WEFT_CA WEFT_TOKEN_FILE WEFT_CONFIG
cleanup_more() {
	ns_del "$C1"
	ns_del "$C2"
	cleanup
	rm -rf "$T"
}
trap cleanup_more EXIT

ip netns add "$NS1"
ip -n "$NS1" link set lo up
ip netns exec "$NS1" "$MANAGER" --state-dir "$T/mgr" --listen "127.0.0.1:$MPORT" >>"$LOGS/weft-manager-$$.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$T/mgr/admin.token" ] && ip netns exec "$NS1" curl -s --cacert "$T/mgr/ca.crt" "$URL/v1/health" >/dev/null && break; sleep 0.1; done

# w ARGS...: weft in the namespace; its stdout in $out, stderr in $err, exit status in $rc.
w() {
	out=$(ip netns exec "$NS1" "$WEFT" "$@" 2>"$T/stderr")
	rc=$?
	err=$(cat "$T/stderr")
}
ADMIN=(--manager "$URL" --ca "$T/mgr/ca.crt" --token-file "$T/mgr/admin.token")
READER=(--manager "$URL" --ca "$T/mgr/ca.crt" --token-file "$T/mgr/reader.token")
# jtrue JSON EXPR: the Python expression EXPR holds for the parsed JSON d.
jtrue() { echo "$1" | python3 -c 'import json, sys, time; d = json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$2"; }
# status_is WANT [NEEDLE...]: the last command exited WANT, and its stderr
# (or stdout) holds every needle.
status_is() {
	local want=$1
	shift
	[ "$rc" = "$want" ] || { echo "exit status $rc, not $want: $out $err"; return 1; }
	has "$out $err" "$@"
}

# --- the command itself ----------------------------------------------------------
w --help
check "weft --help lists the commands" status_is 0 "status" "pods" "nodes" "token" "diagnose" "lab"
w
check "weft alone: usage, exit 2" status_is 2 "Usage: weft COMMAND"
w frobnicate
check "an unknown command: exit 2, named" status_is 2 'unknown command "frobnicate"'
w token frob "${ADMIN[@]}"
check "an unknown subcommand: exit 2, named, the real ones listed" status_is 2 'unknown subcommand "frob"' "create, list, delete"
w nodes --bogus "${ADMIN[@]}"
check "an unknown flag: exit 2, named" status_is 2 'unknown option "--bogus"'
w status --ttl 60
check "a flag of another command: exit 2, named" status_is 2 '--ttl is not an option of "weft status"'
w nodes --manager
check "a flag without its value: exit 2" status_is 2 "--manager needs a value"
w nodes --json=yes "${ADMIN[@]}"
check "a value for a flag that takes none: exit 2" status_is 2 '"--json=yes": that option takes no value'

# --- join tokens -------------------------------------------------------------------
w token create "${ADMIN[@]}"
JOIN=$out
check "token create: the token alone on stdout" sh -c "[ \$(echo '$out' | wc -l) = 1 ] && echo '$out' | grep -qE '^weftj1:[a-z0-9]+:[A-Za-z0-9_-]+\$'"
ID1=$(echo "$JOIN" | cut -d: -f2)
w token create --ttl 2h --json "${ADMIN[@]}"
ID2=$(echo "$out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' 2>/dev/null)
check "token create --ttl 2h --json: id, expiry in two hours, token" jtrue "$out" 'd["token"] and 7100 < d["expires"] - time.time() < 7300' 
w token list "${ADMIN[@]}"
check "token list: both, with their expiry" status_is 0 "ID" "EXPIRES" "$ID1" "$ID2" " UTC" "24h" "2h"
w token list --json "${ADMIN[@]}"
check "token list --json" jtrue "$out" 'len(d["tokens"]) == 2' 
w token delete "$ID2" "${ADMIN[@]}"
check "token delete ID" status_is 0 "deleted token $ID2"
w token list "${ADMIN[@]}"
check "  it is gone from the list, the other still there" sh -c "[ $rc = 0 ] && echo '$out' | grep -q '$ID1' && ! echo '$out' | grep -q '$ID2'"
w token delete "$ID2" "${ADMIN[@]}"
check "  deleting it again: exit 1, the manager's reason" status_is 1 "404" "no token"
w token delete "$JOIN" "${ADMIN[@]}"
check "token delete given the token itself: exit 2, and the secret not echoed" sh -c "[ $rc = 2 ] && ! echo '$err' | grep -qF '$(echo "$JOIN" | cut -d: -f3)'"
w token create --ttl 5 "${ADMIN[@]}"
check "token create --ttl 5: exit 2, the range said" status_is 2 '--ttl "5"' "60 to 31622400"
w token create --ttl soon "${ADMIN[@]}"
check "token create --ttl soon: exit 2" status_is 2 '--ttl "soon"'

# --- nodes -----------------------------------------------------------------------------
w nodes "${ADMIN[@]}"
check "nodes with none yet: exit 0, says so" status_is 0 "no nodes"
KEY=$(wg genkey | wg pubkey)
reg=$(ip netns exec "$NS1" curl -s --cacert "$T/mgr/ca.crt" -H "Authorization: Bearer $JOIN" \
	-d '{"name":"cli-node","publicKey":"'"$KEY"'","endpoints":["192.0.2.7:51821"]}' "$URL/v1/nodes")
check "a node joins with the token from token create" has "$reg" '"name":"cli-node"'
w nodes "${ADMIN[@]}"
check "nodes: name, endpoint, subnets, key, last seen" status_is 0 "NAME" "ENDPOINT" "SUBNETS" "PUBLIC KEY" "LAST SEEN" \
	"cli-node" "192.0.2.7:51821" "10.244." "$KEY" "never"
w nodes --json "${READER[@]}"
check "nodes --json with the reader token" jtrue "$out" 'd["nodes"][0]["name"] == "cli-node"' 
w token create "${READER[@]}"
check "the reader token may not make tokens: exit 1, the manager's reason" status_is 1 "403" "admins only"
w node remove cli-node "${READER[@]}"
check "  nor remove nodes" status_is 1 "403"
w node gateway cli-node --allow "${READER[@]}"
check "  nor allow a node to be a gateway" status_is 1 "403" "only an admin"
w node gateway cli-node "${ADMIN[@]}"
check "node gateway without --allow or --deny: exit 2" status_is 2 "give --allow"
w node gateway cli-node --allow --deny "${ADMIN[@]}"
check "  with both: exit 2" status_is 2 "not both"
w node gateway cli-node --allow "${ADMIN[@]}"
check "node gateway --allow" status_is 0 "node cli-node may be a gateway now"
check "  the record carries the label" has "$(ip netns exec "$NS1" curl -s --cacert "$T/mgr/ca.crt" -H "Authorization: Bearer $(cat "$T/mgr/admin.token")" "$URL/v1/nodes/cli-node")" '"submariner.io/gateway":"true"'
w node gateway cli-node --deny "${ADMIN[@]}"
check "node gateway --deny" status_is 0 "node cli-node may no longer be a gateway"
w node gateway no-such --allow "${ADMIN[@]}"
check "  of a node that is not there: exit 1, named" status_is 1 "404" 'no node "no-such"'
w node remove Bad_Name "${ADMIN[@]}"
check "node remove with a bad name: exit 2, named" status_is 2 '"Bad_Name" is not a node name'
w node remove "${ADMIN[@]}"
check "node remove without a name: exit 2" status_is 2 "give one node name"
w node remove cli-node "${ADMIN[@]}"
check "node remove" status_is 0 "removed node cli-node"
w node remove cli-node "${ADMIN[@]}"
check "  again: exit 1, no such node" status_is 1 "404" 'no node "cli-node"'

# --- settings: flags, environment, config file -------------------------------------------
out=$(ip netns exec "$NS1" env WEFT_MANAGER="$URL" WEFT_CA="$T/mgr/ca.crt" WEFT_TOKEN_FILE="$T/mgr/admin.token" "$WEFT" token list 2>&1)
check "WEFT_MANAGER, WEFT_CA, WEFT_TOKEN_FILE" has "$out" "$ID1"
echo '{"manager": "'"$URL"'", "ca": "'"$T/mgr/ca.crt"'", "tokenFile": "'"$T/mgr/admin.token"'"}' >"$T/cli.json"
w token list --config "$T/cli.json"
check "a config file (--config)" status_is 0 "$ID1"
out=$(ip netns exec "$NS1" env WEFT_CONFIG="$T/cli.json" "$WEFT" token list 2>&1)
check "  WEFT_CONFIG" has "$out" "$ID1"
w nodes --config "$T/cli.json" --token-file "$T/mgr/reader.token"
check "  a flag wins over the file (the reader token reads)" status_is 0
w token list --config "$T/cli.json" --token-file "$T/mgr/reader.token"
check "  (and cannot list tokens)" status_is 1 "403"
echo '{"manager": "'"$URL"'",' >"$T/bad.json"
w nodes --config "$T/bad.json"
check "a config file that is not JSON: exit 2, file and line named" status_is 2 "$T/bad.json, line"
echo '{"manager": "'"$URL"'", "token": "x"}' >"$T/bad.json"
w nodes --config "$T/bad.json"
check "  an unknown setting: exit 2, named" status_is 2 '"token" is not a setting'
w nodes --config "$T/none.json"
check "  a config file that is not there: exit 2" status_is 2 "$T/none.json"
echo '{"ca": "'"$T/mgr/ca.crt"'"}' >"$T/noman.json"
w nodes --config "$T/noman.json"
check "no manager anywhere: exit 2, where to give one" status_is 2 "no manager given" "--manager" "WEFT_MANAGER"
w nodes --manager "$URL" --ca "$T/mgr/ca.crt" --config "$T/noman.json"
check "no token anywhere: exit 2, where to give one" status_is 2 "no token given" "--token-file"

# --- rotating the admin and reader tokens ----------------------------------------------
# as TOKEN METHOD PATH [BODY]: the answer's body, then its status on a line of its own.
as() {
	ip netns exec "$NS1" curl -s --cacert "$T/mgr/ca.crt" -H "Authorization: Bearer $1" -X "$2" "$URL$3" \
		${4:+-d "$4"} -w '\n%{http_code}'
}
code() { as "$@" | tail -1; }
field() { # ANSWER NAME: a field of an answer's body (objects with their keys sorted)
	echo "$1" | head -1 | python3 -c 'import json, sys; v = json.load(sys.stdin)[sys.argv[1]]; print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$2"
}
OLD=$(cat "$T/mgr/admin.token")
r=$(as "$OLD" POST /v1/tokens/rotate '{"role":"admin"}')
NEW=$(field "$r" token)
check "POST /v1/tokens/rotate: 201, a new admin token, pending" has "$r" '"pending":true' '"role":"admin"' 201
check "  the manager's admin.token holds it now, 0600" \
	sh -c "[ \"\$(cat $T/mgr/admin.token)\" = '$NEW' ] && [ \$(stat -c %a $T/mgr/admin.token) = 600 ] && [ '$NEW' != '$OLD' ]"
check "  the old token still works while the new one is pending" test "$(code "$OLD" GET /v1/tokens)" = 200
check "  the new one works (and so confirms it)" test "$(code "$NEW" GET /v1/tokens)" = 200
check "  then the old one gets 401, at once" test "$(code "$OLD" GET /v1/tokens)" = 401
check "  and the new one still works" test "$(code "$NEW" GET /v1/tokens)" = 200
check "  a reader may not rotate tokens: 403" test "$(code "$(cat "$T/mgr/reader.token")" POST /v1/tokens/rotate '{"role":"reader"}')" = 403
check "  a role that is neither: 400" has "$(as "$NEW" POST /v1/tokens/rotate '{"role":"root"}')" 'role' 400
# The CLI's own copy of the token, named by its config file.
cp "$T/mgr/admin.token" "$T/cli-admin.token"
chmod 644 "$T/cli-admin.token"
echo '{"manager": "'"$URL"'", "ca": "'"$T/mgr/ca.crt"'", "tokenFile": "'"$T/cli-admin.token"'"}' >"$T/rot.json"
w token rotate --config "$T/rot.json"
check "weft token rotate: written to the config's token file and confirmed" status_is 0 "rotated the admin token" \
	"$T/cli-admin.token" "confirmed"
check "  the file holds another admin token, mode 0600" \
	sh -c "[ \"\$(cat $T/cli-admin.token)\" != '$NEW' ] && grep -q '^wefta1:' $T/cli-admin.token && [ \$(stat -c %a $T/cli-admin.token) = 600 ]"
check "  the token it replaced gets 401" test "$(code "$NEW" GET /v1/tokens)" = 401
check "  the manager's admin.token is the new one too" cmp -s "$T/cli-admin.token" "$T/mgr/admin.token"
w token list --config "$T/rot.json"
check "  the CLI goes on with it" status_is 0 "$ID1"
OLDR=$(cat "$T/mgr/reader.token")
w token rotate --reader "${ADMIN[@]}"
NEWR=$out
check "weft token rotate --reader: the new reader token alone on stdout" \
	sh -c "[ \$(echo '$out' | wc -l) = 1 ] && echo '$out' | grep -qE '^weftr1:[A-Za-z0-9_-]+\$' && [ '$out' != '$OLDR' ]"
check "  the old reader token reads while the new one is pending" test "$(code "$OLDR" GET /v1/nodes)" = 200
check "  the new one reads (and so confirms it)" test "$(code "$NEWR" GET /v1/nodes)" = 200
check "  then the old one gets 401" test "$(code "$OLDR" GET /v1/nodes)" = 401
w token rotate --reader -o "$T/new-reader.token" "${ADMIN[@]}"
check "weft token rotate --reader -o FILE: written there" status_is 0 "wrote the new reader token to $T/new-reader.token"
check "  mode 0600" test "$(stat -c %a "$T/new-reader.token")" = 600
w nodes --manager "$URL" --ca "$T/mgr/ca.crt" --token-file "$T/new-reader.token"
check "  it reads" status_is 0
check "  and the one before it no longer does" test "$(code "$NEWR" GET /v1/nodes)" = 401
w token rotate --manager "$URL" --ca "$T/mgr/ca.crt" --token-file "$T/new-reader.token"
check "  the reader token cannot rotate the admin one: exit 1, 403" status_is 1 "403" "admins only"
w token rotate -o "$T/x.token" "${ADMIN[@]}"
check "weft token rotate -o without --reader: exit 2" status_is 2 "-o is for --reader"

# --- registration is safe to repeat -------------------------------------------------------
SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEY2=$(wg genkey | wg pubkey)
reg_body() { # SECRET KEY
	echo '{"name":"replay","publicKey":"'"$2"'","endpoints":["192.0.2.8:51821"]'"${1:+,\"registrationSecret\":\"$1\"}"'}'
}
r1=$(as "$JOIN" POST /v1/nodes "$(reg_body "$SECRET" "$KEY2")")
check "a registration with a registration secret: 201" test "$(echo "$r1" | tail -1)" = 201
CRED_LOST=$(field "$(echo "$r1" | head -1)" credential)
r2=$(as "$JOIN" POST /v1/nodes "$(reg_body "$SECRET" "$KEY2")")
# The same node: name, key, subnets; and the record says its credential
# changed, so that every manager drops the lost one from its cache.
same_node() { echo "$1" | head -1 | python3 -c 'import json, sys; n = json.load(sys.stdin)["node"]; print(json.dumps([n["name"], n["publicKey"], n["subnets"], n["created"]]))'; }
rec1=$(same_node "$r1")
rec2=$(same_node "$r2")
check "the same registration again, its answer lost: 201 again, the same node" \
	test "$(echo "$r2" | tail -1)" = 201 -a -n "$rec1" -a "$rec1" = "$rec2"
check "  its record says the credential changed" sh -c "echo '$r2' | head -1 | grep -q '\"credentialRotation\": *{\"rotated\"'"
CRED_NEW=$(field "$(echo "$r2" | head -1)" credential)
check "  its credential works" test "$(code "$CRED_NEW" GET /v1/nodes/replay)" = 200
check "  the first one, never received, no longer does" test "$(code "$CRED_LOST" GET /v1/nodes/replay)" = 401
check "  with another secret: 409" has "$(as "$JOIN" POST /v1/nodes "$(reg_body "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" "$KEY2")")" 'registered already' 409
check "  without one: 409" has "$(as "$JOIN" POST /v1/nodes "$(reg_body "" "$KEY2")")" 'registered already' 409
check "  the same secret with another key: 409" has "$(as "$JOIN" POST /v1/nodes "$(reg_body "$SECRET" "$(wg genkey | wg pubkey)")")" 409
check "  the same request without the join token: 401" has "$(ip netns exec "$NS1" curl -s --cacert "$T/mgr/ca.crt" -d "$(reg_body "$SECRET" "$KEY2")" -w '\n%{http_code}' "$URL/v1/nodes")" 401
r=$(as "$JOIN" POST /v1/nodes "$(reg_body "not-hex-$SECRET" "$KEY2")")
check "  a secret that is not hex: 400, and not quoted back" sh -c "echo '$r' | grep -q 400 && echo '$r' | grep -q 'registrationSecret: give' && ! echo '$r' | grep -qF '$SECRET'"
check "  the manager's log never shows the secret" sh -c "! grep -qF '$SECRET' '$LOGS/weft-manager-$$.log'"
w node remove replay "${ADMIN[@]}"

# --- wrong values ------------------------------------------------------------------------
w nodes --manager "http://127.0.0.1:$MPORT" --ca "$T/mgr/ca.crt" --token-file "$T/mgr/admin.token"
check "an http:// URL: exit 2, the URL quoted" status_is 2 "http://127.0.0.1:$MPORT" "https://HOST:PORT"
head -c 32 /dev/urandom | base64 | sed 's/^/wefta1:/' >"$T/bad.token"
w nodes --manager "$URL" --ca "$T/mgr/ca.crt" --token-file "$T/bad.token"
check "a bad token: exit 1, refused, the file named" status_is 1 "401" "not valid" "$T/bad.token"
: >"$T/empty.token"
w nodes --manager "$URL" --ca "$T/mgr/ca.crt" --token-file "$T/empty.token"
check "an empty token file: exit 2" status_is 2 "$T/empty.token" "empty"
w nodes --manager "$URL" --ca "$T/mgr/ca.crt" --token-file "$T/missing.token"
check "a token file that is not there: exit 2, named" status_is 2 "--token-file $T/missing.token" "No such file"
w nodes --manager "$URL" --ca "$T/missing.crt" --token-file "$T/mgr/admin.token"
check "a CA file that is not there: exit 2, named" status_is 2 "--ca $T/missing.crt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=another -days 1 \
	-keyout "$T/other.key" -out "$T/other.crt" >/dev/null 2>&1
w nodes --manager "$URL" --ca "$T/other.crt" --token-file "$T/mgr/admin.token"
check "the wrong CA: exit 1, the certificate refused, --ca suggested" status_is 1 "cannot reach the manager" "--ca"
w nodes --manager "https://127.0.0.1:$((MPORT + 1))" --ca "$T/mgr/ca.crt" --token-file "$T/mgr/admin.token"
check "nothing listening there: exit 1" status_is 1 "cannot reach the manager" "is weft-manager running"

# --- the agent ------------------------------------------------------------------------------
w status --socket "$T/nobody.sock"
check "status with no agent: exit 1, the socket named" status_is 1 "no agent at $T/nobody.sock" "--socket"
w pods --socket ""
check "pods --socket '': exit 2" status_is 2 "--socket"
echo '{}' >"$T/weftd.json" # not the machine's /etc/weft/weftd.json
ip netns exec "$NS1" "$WEFTD" --config "$T/weftd.json" --state-dir "$T/weftd" --socket "$SOCK" --pod-subnet 10.72.1.0/24 \
	--pod-subnet6 fd72:1::/64 --log-level verbose >>"$LOGS/weft-weftd-$$.log" 2>&1 &
PIDS+=($!)
wait_socket "$SOCK"
CONF='{"cniVersion":"1.0.0","name":"cli","type":"weft","mode":"mesh","agentSocket":"'$SOCK'"}'
for c in "$C1" "$C2"; do
	ip netns add "$c"
	ip -n "$c" link set lo up
	echo "$CONF" | ip netns exec "$NS1" env CNI_COMMAND=ADD CNI_CONTAINERID="$c" CNI_NETNS="/var/run/netns/$c" \
		CNI_IFNAME=eth0 "$CNI" >"$T/$c.json"
done
A1=$(addr_of "$(cat "$T/$C1.json")")
A2=$(addr_of "$(cat "$T/$C2.json")")
w status --socket "$SOCK"
check "status of an agent outside a cluster" status_is 0 "node: not in a cluster" "pods: 2"
w status --socket "$SOCK" --json
check "status --json: the agent's answer" jtrue "$out" 'd["ok"] and len(d["pods"]) == 2' 
w pods --socket "$SOCK"
check "pods: a row per pod" status_is 0 "CONTAINER" "IFNAME" "MODE" "ADDRESSES" "NETNS" "$C1" "$C2" "mesh" "$A1" "/var/run/netns/$C1"
w pods --socket "$SOCK" --json
check "pods --json" jtrue "$out" "sorted(p['containerID'] for p in d['pods']) == ['$C1', '$C2']"
w diagnose "$A1" "$A2" --socket "$SOCK"
check "diagnose pod to pod on one node: where each is, the route, a ping; no problem" status_is 0 \
	"pod $C1/eth0 on this node" "pod $C2/eth0 on this node" "3 of 3 answered" "route to pod $A2" "no problem seen"
w diagnose "$C1" "$A2" --socket "$SOCK" --no-ping --json
check "diagnose by container ID, --json, --no-ping" jtrue "$out" "d['problems'] == 0 and d['source']['address'] == '$A1'"
ip -n "$NS1" route del "$A2/32" 2>/dev/null
w diagnose "$A1" "$A2" --socket "$SOCK" --no-ping
check "diagnose finds a missing route: exit 1, said" status_is 1 "FAIL" "no route to pod $A2"
w diagnose "$A1" --socket "$SOCK"
check "diagnose with one end: exit 2" status_is 2 "give two ends"
w diagnose "$A1" nowhere --socket "$SOCK"
check "diagnose an end it cannot place: exit 2, named" status_is 2 'destination "nowhere"'
w diagnose 10.72.1.2 fd72:1::2 --socket "$SOCK"
check "diagnose across families: exit 2" status_is 2 "two families"
finish
