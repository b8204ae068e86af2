#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# External clients dialing in (issue 15, seed 003): weft client add makes a
# key pair where it runs and a wg-quick file; the client, on the underlay
# with nothing but that file, runs wg-quick up (with weft-wg, then with
# wireguard-go) and reaches the pods on every node, IPv4 and IPv6. Every
# node has it as a peer allowed its /32 and /128, with no endpoint; weft
# clients shows its handshake; weft client config writes the file again
# once a node has joined; weft client remove revokes it on every node
# within seconds. Bad input is refused, naming the value, changing nothing.
#
#   $NET: bridge br0 192.168.89.1/24 fd89::1/64, weft-manager on :7443
#     ├─ $CLIENT eth0 .50 fd89::50: the client, wg-quick up FILE
#     ├─ $NODE1 eth0 .11 fd89::11 ── weftd n1 (userspace) ── pod $PODS-1
#     ├─ $NODE2 eth0 .12 fd89::12 ── weftd n2 (userspace) ── pod $PODS-2
#     └─ $NODE3 eth0 .13 fd89::13 ── weftd n3, joins later ── pod $PODS-3
#   cluster CIDRs 10.90.0.0/16 fd90::/48; pods in mesh mode
#
# wireguard-go: $WIREGUARD_GO, else wireguard-go in PATH if it is 0.0.2023
# or later (docs/testing.md says where to get it); older ones are skipped.
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/weft-clients.XXXXXX)
CLIENT=weft-t$$-c
PODS=weft-t$$-p
IFC=wc$N # the client's interface: wg-quick names it after the file
CONF=$T/$IFC.conf
NET4=192.168.89
NET6=fd89
CIDRS="10.90.0.0/16 fd90::/48"
. "$(dirname "$0")/cluster.sh"
declare -A ADDR4 ADDR6
# The client's weft-wg or wireguard-go dies with its namespace; its socket stays.
trap 'rm -f "/var/run/wireguard/$IFC.sock"; cleanup_cluster' EXIT

weft() { # TOKEN ARGS...: the CLI against the manager, with the admin's or the reader's token
	local token=$1
	shift
	ip netns exec "$NET" "$WEFT" "$@" --manager "$URL" --ca "$T/mgr/ca.crt" --token-file "$T/mgr/$token.token"
}
add_pod() { # K: pod $PODS-K on node K, mesh mode
	local r conf='{"cniVersion":"1.0.0","name":"cm","type":"weft","mode":"mesh","agentSocket":"'$T/n$1.sock'"}'
	ip netns add "$PODS-$1"
	ip -n "$PODS-$1" link set lo up
	r=$(echo "$conf" | ip netns exec "$NODE$1" env CNI_COMMAND=ADD CNI_CONTAINERID="ctr-$1" \
		CNI_NETNS="/var/run/netns/$PODS-$1" CNI_IFNAME=eth0 CNI_PATH="$ROOT/$BUILD" "$CNI") || { echo "$r"; return 1; }
	ADDR4[$1]=$(echo "$r" | grep -o '"address":"10\.90\.[0-9.]*' | head -1 | cut -d'"' -f4)
	ADDR6[$1]=$(echo "$r" | grep -o '"address":"fd90:[0-9a-f:]*' | head -1 | cut -d'"' -f4)
	[ -n "${ADDR4[$1]}" ] && [ -n "${ADDR6[$1]}" ]
}
client_field() { # FIELD: the client's FIELD at the manager ("addresses" joined by spaces)
	api GET /v1/clients/laptop | python3 -c 'import json,sys; v=json.load(sys.stdin)["'"$1"'"]; print(" ".join(v) if isinstance(v, list) else v)'
}
# Whether node K's hub has the client as a peer allowed ALLOWED (its
# addresses, space-separated), with no endpoint before it dialed in.
node_has_client() { # K ALLOWED
	local got
	got=$(ip netns exec "$NODE$1" wg show "wt$N-$1" allowed-ips | grep "^$PUB" | cut -f2)
	[ "$got" = "$2" ] || { echo "n$1: allowed $got, want $2"; return 1; }
}
wait_client() { # K gone|ALLOWED: within 5 s
	for _ in $(seq 50); do
		if [ "$2" = gone ]; then
			ip netns exec "$NODE$1" wg show "wt$N-$1" peers | grep -qF "$PUB" || return 0
		else
			node_has_client "$1" "$2" >/dev/null && return 0
		fi
		sleep 0.1
	done
	return 1
}
client_keys() { # every client's key at the manager, or "none"
	api GET /v1/clients | python3 -c 'import json,sys; print(" ".join(c["publicKey"] for c in json.load(sys.stdin)["clients"]) or "none")'
}
says() { echo "$1" | grep -qF -- "$2"; } # OUTPUT TEXT
peers_in_file() { grep -c '^\[Peer\]' "$CONF"; }
private_key() { sed -n 's/^PrivateKey = //p' "$CONF"; }
reaches_all() { # K...: the client pings each node's pod, both families
	local k
	for k in "$@"; do
		wait_ping "$CLIENT" "${ADDR4[$k]}" 5 >/dev/null || { echo "no reply from pod $k ${ADDR4[$k]}"; return 1; }
		ip netns exec "$CLIENT" ping -6 -c 1 -w 5 "${ADDR6[$k]}" >/dev/null || { echo "no reply from pod $k ${ADDR6[$k]}"; return 1; }
	done
}
reaches_none() { # K...: no pod answers
	local k
	for k in "$@"; do
		ip netns exec "$CLIENT" ping -c 1 -W 1 "${ADDR4[$k]}" >/dev/null 2>&1 && { echo "pod $k answered"; return 1; }
	done
	return 0
}
wg_quick() { # IMPL up|down: wg-quick in the client's namespace, IMPL weft-wg or the path of wireguard-go
	ip netns exec "$CLIENT" env PATH="$T/bin:$PATH" WG_QUICK_USERSPACE_IMPLEMENTATION="$1" \
		wg-quick "$2" "$CONF" >>"$T/wg-quick.log" 2>&1
}
handshake_seen() { # within 45 s: nodes report with their heartbeat (every 30 s)
	for _ in $(seq 90); do
		weft reader clients --json | python3 -c 'import json,sys
c=[c for c in json.load(sys.stdin)["clients"] if c["name"]=="laptop"]
sys.exit(0 if c and c[0].get("lastHandshake",{}).get("time",0) > 0 else 1)' && return 0
		sleep 0.5
	done
	return 1
}

mkdir -p "$T/bin"
ln -s "$ROOT/$BUILD/weft-wg" "$T/bin/weft-wg"
WGGO=${WIREGUARD_GO:-}
if [ -z "$WGGO" ] && command -v wireguard-go >/dev/null &&
	wireguard-go --version | grep -qE 'v0\.0\.20(2[3-9]|[3-9][0-9])'; then
	WGGO=$(command -v wireguard-go)
fi

# --- a manager, two nodes with a pod each, the client's namespace ------------------
check "the manager starts" start_manager
api POST /v1/tokens '{"ttl":3600}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$T/join.token"
for k in 1 2; do
	plug "$NODE$k" "v$k" "192.168.89.1$k" "fd89::1$k"
	check "node $k joins" start_weftd $k
	check "  a pod on node $k" add_pod $k
done
plug "$CLIENT" vc 192.168.89.50 fd89::50

# --- weft client add ---------------------------------------------------------------
out=$(weft admin client add laptop -o "$CONF" 2>&1)
check "weft client add laptop: $out" test -s "$CONF"
check "  the file is 0600" test "$(stat -c %a "$CONF")" = 600
check "  a peer per node (2)" test "$(peers_in_file)" = 2
check "  each kept alive every 25 s, to the node's endpoint" \
	sh -c "[ \$(grep -c '^PersistentKeepalive = 25\$' $CONF) = 2 ] && grep -q '^Endpoint = 192.168.89.11:51821\$' $CONF && grep -q '^Endpoint = 192.168.89.12:51821\$' $CONF"
PUB=$(client_field publicKey)
ALLOWED=$(client_field addresses | tr ' ' '\n' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
check "the manager has its public key, which the file's private key makes" same "$PUB" "$(private_key | wg pubkey)"
check "  and never the private key, nor does any node" sh -c "! grep -rqF '$(private_key)' $T/mgr $T/n1 $T/n2"
check "  an address of each family ($ALLOWED), in neither node's subnets" \
	sh -c "echo '$ALLOWED' | grep -qE '^10\.90\.2\.1/32 fd90:0:0:2::1/128\$'"
wait_client 1 "$ALLOWED" >/dev/null
check "node 1 has the client as a peer, allowed $ALLOWED" node_has_client 1 "$ALLOWED"
wait_client 2 "$ALLOWED" >/dev/null
check "  node 2 too" node_has_client 2 "$ALLOWED"
check "  with no endpoint yet (it dials in)" \
	sh -c "ip netns exec ${NODE}1 wg show wt$N-1 endpoints | grep '^$PUB' | grep -q '(none)'"
check "  and routed into the hub" sh -c "ip netns exec ${NODE}1 ip route get 10.90.2.1 | grep -q 'dev wt$N-1'"

# --- bad input: refused, naming the value, nothing changed -------------------------
out=$(weft admin client add laptop -o "$T/again.conf" 2>&1)
check "a second laptop is refused, by name: $out" says "$out" 'client "laptop" exists already'
check "  and writes no file" test ! -e "$T/again.conf"
out=$(weft reader client add other -o "$T/other.conf" 2>&1)
check "the reader token cannot add one: $out" says "$out" '403 adding a client takes the admin token'
check "  and writes no file" test ! -e "$T/other.conf"
out=$(ip netns exec "$NET" "$WEFT" client add other -o "$T/other.conf" --manager "$URL" --ca "$T/mgr/ca.crt" 2>&1)
check "nor no token: $out" says "$out" 'token'
check "  and writes no file" test ! -e "$T/other.conf"
out=$(weft admin client add Bad_Name -o "$T/other.conf" 2>&1)
check "a bad name is named: $out" says "$out" '"Bad_Name" is not a client name'
check "  and writes no file" test ! -e "$T/other.conf"
out=$(weft admin client add other -o "$CONF" 2>&1)
check "an existing file is not overwritten: $out" says "$out" "$CONF exists"
check "  it keeps its key" same "$(private_key | wg pubkey)" "$PUB"
out=$(weft reader client remove laptop 2>&1)
check "the reader token cannot remove one: $out" says "$out" '403 removing a client takes the admin token'
check "  one client still, the same" same "$(client_keys)" "$PUB"

# --- wg-quick up with weft-wg ---------------------------------------------------------
check "wg-quick up FILE, with weft-wg" wg_quick weft-wg up
check "  the client reaches the pods on both nodes, IPv4 and IPv6" reaches_all 1 2
check "  node 1 learned its endpoint" \
	sh -c "ip netns exec ${NODE}1 wg show wt$N-1 endpoints | grep '^$PUB' | grep -q '192.168.89.50:'"
check "weft clients shows its handshake" handshake_seen
check "  in its table" sh -c "ip netns exec $NET $WEFT clients --manager $URL --ca $T/mgr/ca.crt --token-file $T/mgr/reader.token | grep -E '^laptop .* ago \\(node n[12]\\)\$'"
check "wg-quick down" wg_quick weft-wg down

# --- a node joins; weft client config writes the file again ------------------------
plug "${NODE}3" v3 192.168.89.13 fd89::13
check "node 3 joins" start_weftd 3
check "  a pod on node 3" add_pod 3
wait_client 3 "$ALLOWED" >/dev/null
check "  it has the client as a peer" node_has_client 3 "$ALLOWED"
key=$(private_key)
out=$(weft reader client config laptop -o "$CONF" 2>&1)
check "weft client config laptop -o FILE: $out" test "$(peers_in_file)" = 3
check "  the same private key" same "$key" "$(private_key)"
check "  still 0600" test "$(stat -c %a "$CONF")" = 600
wg genkey | sed 's/^/PrivateKey = /' >"$T/other.conf"
out=$(weft reader client config laptop -o "$T/other.conf" 2>&1)
check "  a file with another key is refused: $out" says "$out" 'holds the key of another client'
check "  and left as it was" test "$(grep -c . "$T/other.conf")" = 1

# --- wg-quick up with wireguard-go ---------------------------------------------------
if [ -n "$WGGO" ]; then
	check "wg-quick up FILE, with wireguard-go ($($WGGO --version | head -1))" wg_quick "$WGGO" up
	check "  the client reaches the pods on all three nodes" reaches_all 1 2 3
else
	skip "wireguard-go 0.0.2023 or later: set WIREGUARD_GO (docs/testing.md)"
	check "wg-quick up FILE, with weft-wg again" wg_quick weft-wg up
	check "  the client reaches the pods on all three nodes" reaches_all 1 2 3
fi

# --- weft client remove: revoked on every node within seconds ----------------------
out=$(weft admin client remove laptop 2>&1)
check "weft client remove laptop: $out" same "$(client_keys)" "none"
for k in 1 2 3; do check "  node $k drops the peer within 5 s" wait_client $k gone; done
check "  and its route" sh -c "! ip netns exec ${NODE}1 ip route show | grep -q '^10.90.2.1 '"
check "  the client reaches no pod" reaches_none 1 2 3
if [ -n "$WGGO" ]; then wg_quick "$WGGO" down; else wg_quick weft-wg down; fi
check "  wg-quick down" test $? = 0
out=$(weft admin client remove laptop 2>&1)
check "removing it again names it: $out" says "$out" 'no client "laptop"'

for k in 1 2 3; do
	echo '{"cniVersion":"1.0.0","name":"cm","type":"weft","mode":"mesh","agentSocket":"'$T/n$k.sock'"}' |
		ip netns exec "$NODE$k" env CNI_COMMAND=DEL CNI_CONTAINERID="ctr-$k" CNI_NETNS="/var/run/netns/$PODS-$k" \
			CNI_IFNAME=eth0 CNI_PATH="$ROOT/$BUILD" "$CNI" >/dev/null
done
[ "$FAILED" = 0 ] || cat "$T/wg-quick.log"
finish
