#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# weft-cni driven as HashiCorp Nomad drives CNI for `network { mode = "cni/NAME" }`
# (Nomad is not in Debian: tests/tools/nomad-cni makes its calls, see its header):
# the conflist whose name is NAME lowercased, every plugin of it with libcni's
# prevResult, CNI_IFNAME=eth0, CNI_CONTAINERID the allocation ID, CNI_ARGS
# IgnoreUnknown=true + NOMAD_* in a random order on ADD and CHECK, none on DEL,
# STATUS before DEL for cniVersion 1.1.0; and Nomad's recovery after an agent
# restart: CHECK fails, the namespace is made afresh at the same path, ADD again
# without a DEL.
#
#   $DIR/config (cni_config_dir), scanned in order:
#     10-decoy.conflist     "WeftMesh": bridge + host-local (never used: Nomad lowercases)
#     20-weftmesh.conflist  "weftmesh", 1.0.0: weft mesh, then tuning (mtu 1400, needs prevResult)
#     30-wefthub.conflist   "wefthub",  1.1.0: weft hub (STATUS before DEL)
#
#   ┌ $NS1: the node (Nomad's client runs the plugins here) ────────────────────────┐
#   │ weftd: pod subnet 10.74.$N.0/24, fd74:$N::/64                                  │
#   │  weftXXXXXXXX ◄─veth─► a1: eth0 10.74.$N.x   cni/WeftMesh  job web  group www  │
#   │  weftXXXXXXXX ◄─veth─► a2: eth0 10.74.$N.y   cni/WeftMesh  job web  group api  │
#   │  hub $HUB 10.74.$N.1 ◄─UDP on lo─► a3: eth0 (WireGuard)  cni/WeftHub  job db    │
#   │                      ◄─UDP on lo─► a4: eth0 (WireGuard)  cni/wefthub  job db    │
#   └────────────────────────────────────────────────────────────────────────────────┘
#   allocation namespaces weft-t$$-a1..a4 (Nomad's /var/run/netns/ALLOC_ID)
. "$(dirname "$0")/lib.sh"

WEFTD=$ROOT/$BUILD/weftd
WEFT=$ROOT/$BUILD/weft
DRIVER=$ROOT/tests/tools/nomad-cni
DIR=$(mktemp -d /tmp/weft-nomad.XXXXXX)
SOCK=$DIR/weftd.sock
STATE=$DIR/weftd
TRACE=$DIR/trace # every plugin run, "aI: nomad-cni: COMMAND TYPE CNI_ARGS=..."
HUB=wn${N}h
cleanup_more() {
	for i in 1 2 3 4; do ns_del "weft-t$$-a$i"; done
	cleanup
	rm -rf "$DIR" "/var/run/wireguard/$HUB.sock"
}
trap cleanup_more EXIT

mkdir -p "$DIR/config" "$DIR/bin"
cp "$ROOT/$BUILD/weft-cni" "$DIR/bin/weft"
cp "$ROOT/$BUILD/weft-cni" "$DIR/bin/wg-cni"
agent='"agentSocket":"'$SOCK'","agentStateDir":"'$STATE'"'
cat >"$DIR/config/10-decoy.conflist" <<EOF
{"cniVersion":"1.0.0","name":"WeftMesh","plugins":[{"type":"bridge","bridge":"wnb$N","isGateway":true,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.75.$N.0/24"}]],"dataDir":"$DIR/hl"}}]}
EOF
cat >"$DIR/config/20-weftmesh.conflist" <<EOF
{"cniVersion":"1.0.0","name":"weftmesh","plugins":[{"type":"weft","mode":"mesh",$agent},
 {"type":"tuning","mtu":1400,"dataDir":"$DIR/tuning"}]}
EOF
cat >"$DIR/config/30-wefthub.conflist" <<EOF
{"cniVersion":"1.1.0","name":"wefthub","plugins":[{"type":"weft","mode":"hub",$agent}]}
EOF

# The allocations: ID (a UUID, as Nomad's), requested network, job, group.
for i in 1 2 3 4; do ALLOC[$i]=$(cat /proc/sys/kernel/random/uuid); done
NET=([1]=WeftMesh WeftMesh WeftHub wefthub)
JOB=([1]=web web db db)
GROUP=([1]=www api primary replica)
MODE=([1]=mesh mesh hub hub)
USER_ARGS=([1]=team=blue) # a1's group has `cni { args = { team = "blue" } }`, a key weft does not know
new_ns() { ip netns add "weft-t$$-a$1" && ip -n "weft-t$$-a$1" link set lo up; }
# nomad INDEX COMMAND [--option...]: the driver for allocation INDEX, with its group's
# cni args; its stderr (the plugin runs, or the error) in $DIR/err and the trace.
nomad() {
	local i=$1 cmd=$2 rc
	shift 2
	ip netns exec "$NS1" "$DRIVER" --config-dir "$DIR/config" --cni-path "$DIR/bin:/usr/lib/cni" \
		--cache-dir "$DIR/cache" --netns "/var/run/netns/weft-t$$-a$i" --job "${JOB[$i]}" \
		--group "${GROUP[$i]}" "$cmd" "${NET[$i]}" "${ALLOC[$i]}" ${USER_ARGS[$i]:-} "$@" 2>"$DIR/err"
	rc=$?
	sed "s/^/a$i: /" "$DIR/err" >>"$TRACE"
	return $rc
}
in_a() { local i=$1; shift; ip netns exec "weft-t$$-a$i" "$@"; }
addr6_of() { echo "$1" | grep -o '"address":"fd74:[0-9a-f:]*/128"' | cut -d'"' -f4 | cut -d/ -f1; }
# Addresses weftd holds: one file each in STATE/ipam/4 and 6, beside "last" and temporaries.
held() { ls "$STATE/ipam/$1" | grep -v -e '^last$' -e '~' | grep -c .; }
# held_by INDEX 4|6: the addresses weftd's IPAM holds for the allocation (a file's first line is its ID).
held_by() { (cd "$STATE/ipam/$2" && grep -lx -- "${ALLOC[$1]}" * 2>/dev/null | grep -v '~' | tr '\n' ' '); }
veths() { ip -n "$NS1" -o link | grep -cE '^[0-9]+: weft[0-9a-f]{8}@'; }
pods() { ip netns exec "$NS1" "$WEFT" pods --socket "$SOCK" 2>&1; }
# pod_row INDEX: weft pods has exactly one row for the allocation, naming its job, group and alloc.
pod_row() {
	local i=$1 rows
	rows=$(pods | grep -F "${ALLOC[$i]} ")
	[ "$(echo "$rows" | grep -c .)" = 1 ] || { echo "rows for ${ALLOC[$i]}: $rows"; return 1; }
	has "$rows" "${JOB[$i]}.${GROUP[$i]} alloc ${ALLOC[$i]:0:8}" " ${MODE[$i]} " " weft${MODE[$i]} "
}
start_weftd() {
	rm -f "$SOCK"
	ip netns exec "$NS1" "$WEFTD" --state-dir "$STATE" --socket "$SOCK" --pod-subnet "10.74.$N.0/24" \
		--pod-subnet6 "fd74:$N::/64" --hub-name "$HUB" --hub-port "$PORT1" --log-level verbose \
		>>"$LOGS/weft-weftd-$$.log" 2>&1 &
	WEFTD_PID=$!
	PIDS+=("$WEFTD_PID")
	wait_socket "$SOCK"
}

ip netns add "$NS1"
ip -n "$NS1" link set lo up
check "weftd starts in the node's namespace" start_weftd
for i in 1 2 3 4; do new_ns "$i"; done

# --- ADD: two allocations on each network -----------------------------------
r1=$(nomad 1 ADD)
check "cni/WeftMesh: ADD through the conflist named weftmesh (lowercased), the address Nomad takes" \
	has "$r1$(cat "$DIR/err")" '"address":"10.74.'$N'.' '"address":"fd74:'$N'::' "alloc address 10.74.$N."
chain_ran() { # weft's eth0 with tuning's MTU; weft then tuning in the trace
	in_a 1 ip link show eth0 | grep -q 'mtu 1400' &&
		[ "$(grep -oE '^a1: nomad-cni: ADD [a-z-]+' "$TRACE" | cut -d' ' -f4 | tr '\n' ' ')" = 'weft tuning ' ]
}
check "  every plugin of it in order, CNI_IFNAME eth0: weft's veth, then tuning's MTU on it (tuning needs weft's prevResult)" chain_ran
decoy_skipped() { ! ip -n "$NS1" link show "wnb$N" 2>/dev/null && [ ! -e "$DIR/hl" ] && ! grep -q 'ADD bridge' "$TRACE"; }
check "  the decoy conflist named WeftMesh (the name as written) is skipped: no bridge, no host-local" decoy_skipped
check "  a user's cni args beside Nomad's, IgnoreUnknown=true: accepted" grep -q '^a1: .*ADD weft .*team=blue' "$TRACE"
r2=$(nomad 2 ADD)
check "a second allocation on it" has "$r2" '"address":"10.74.'$N'.'
r3=$(nomad 3 ADD)
check "cni/WeftHub: ADD (cniVersion 1.1.0, hub): a WireGuard eth0 with a pod address" \
	has "$r3$(cat "$DIR/err")" '"name":"eth0"' '"mac":"00:00:00:00:00:00"' "alloc address 10.74.$N."
r4=$(nomad 4 ADD)
check "  and a second one (cni/wefthub)" has "$r4" '"address":"10.74.'$N'.'
a1=$(addr_of "$r1") a2=$(addr_of "$r2") a3=$(addr_of "$r3") a4=$(addr_of "$r4")
check "four allocations, four addresses ($a1 $a2 $a3 $a4)" \
	test "$(printf '%s\n' "$a1" "$a2" "$a3" "$a4" | grep . | sort -u | wc -l)" = 4
check "mesh: a1 reaches a2 over IPv4" wait_ping "weft-t$$-a1" "$a2" 5
check "  and over IPv6" in_a 1 ping -6 -c 2 -W 3 "$(addr6_of "$r2")"
check "  a2 reaches a1" in_a 2 ping -c 2 -W 3 "$a1"
check "hub: a3 reaches a4 through the hub" wait_ping "weft-t$$-a3" "$a4" 5
check "  and over IPv6" in_a 3 ping -6 -c 2 -W 3 "$(addr6_of "$r4")"
check "  and a1, a mesh allocation on the node" in_a 3 ping -c 2 -W 3 "$a1"
for i in 1 2 3 4; do
	check "weft pods: a$i as ${JOB[$i]}.${GROUP[$i]} alloc ${ALLOC[$i]:0:8}, ${MODE[$i]}, network weft${MODE[$i]}" pod_row "$i"
done

# CHECK of healthy allocations (Nomad's agent restarted, their namespaces still there).
check "CHECK of a healthy mesh allocation, with its cached result as prevResult (weft, then tuning)" nomad 2 CHECK
check "  and of a hub allocation" nomad 4 CHECK

# CNI_ARGS: Nomad's pairs, in a new order each call (a Go map).
args_ok() {
	local l keys want
	want=$(printf '%s\n' IgnoreUnknown NOMAD_ALLOC_ID NOMAD_GROUP_NAME NOMAD_JOB_ID NOMAD_NAMESPACE NOMAD_REGION | sort | tr '\n' ' ')
	while read -r l; do
		keys=$(echo "${l#*CNI_ARGS=}" | tr ';' '\n' | cut -d= -f1 | grep -vx team | sort | tr '\n' ' ')
		[ "$keys" = "$want" ] || { echo "unexpected CNI_ARGS keys: $l"; return 1; }
		echo "$l" | grep -q "NOMAD_REGION=global" && echo "$l" | grep -q "NOMAD_NAMESPACE=default" || return 1
	done < <(grep -E ' (ADD|CHECK) weft ' "$TRACE")
}
orders=$(grep -E ' (ADD|CHECK) weft ' "$TRACE" | sed 's/.*CNI_ARGS=//; s/=[^;]*//g' | sort -u | wc -l)
calls=$(grep -cE ' (ADD|CHECK) weft ' "$TRACE")
check "CNI_ARGS on ADD and CHECK: IgnoreUnknown=true and the five NOMAD_* pairs" args_ok
check "  in varying order: $orders orders in $calls calls" test "$orders" -ge 2
readd_refused() { ! nomad 2 ADD --tries 1 && grep -q 'already attached' "$DIR/err"; }
check "ADD again without DEL in the same namespace is refused (only a namespace made afresh replaces)" readd_refused

# --- Nomad's recovery: the namespace made afresh, CHECK fails, ADD again without DEL --
# As Nomad 1.9.5+ after its agent restarts and CHECK finds the allocation broken: it
# deletes the namespace, makes it again at the same path, and ADDs with no DEL first.
check_fails() {
	! nomad "$1" CHECK && has "$(cat "$DIR/err")" "network namespace already exists but was misconfigured" 'type="weft"'
}
no_del() { ! grep -qE "^a$1: nomad-cni: DEL " "$TRACE"; }
old1=$a1
ns_del "weft-t$$-a1"
new_ns 1
check "a1's namespace made afresh at the same path: CHECK fails (weft finds no eth0)" check_fails 1
r1=$(nomad 1 ADD)
check "  ADD again without DEL succeeds" has "$r1" '"address":"10.74.'$N'.' '"address":"fd74:'$N'::'
check "  (no DEL was ever sent for a1)" no_del 1
a1=$(addr_of "$r1")
check "  a1 ($old1 before, $a1 now) reaches a2 again over IPv4" wait_ping "weft-t$$-a1" "$a2" 5
check "  and IPv6" in_a 1 ping -6 -c 2 -W 3 "$(addr6_of "$r2")"
check "  a2 reaches a1 at its new addresses" sh -c "ip netns exec weft-t$$-a2 ping -c 1 -W 3 $a1 && ip netns exec weft-t$$-a2 ping -6 -c 1 -W 3 $(addr6_of "$r1")"
check "  CHECK passes again" nomad 1 CHECK
check "  weft pods: one entry for it" pod_row 1
check "  weftd's IPAM holds one IPv4 and one IPv6 address for it, the new ones ($(held_by 1 4)$(held_by 1 6))" \
	test "$(held_by 1 4)$(held_by 1 6)" = "$a1 $(addr6_of "$r1") "
a3old=$a3
ns_del "weft-t$$-a3"
new_ns 3
check "a3 (hub) made afresh: CHECK fails" check_fails 3
r3=$(nomad 3 ADD)
check "  ADD again without DEL succeeds" has "$r3" '"address":"10.74.'$N'.'
a3=$(addr_of "$r3")
check "  a3 ($a3old before, $a3 now) reaches a4 through the hub again" wait_ping "weft-t$$-a3" "$a4" 5
check "  and a4 reaches a3" in_a 4 ping -c 2 -W 3 "$a3"
check "  the hub has one peer per allocation (2)" test "$(ip netns exec "$NS1" wg show "$HUB" peers | wc -l)" = 2
check "  weft pods: one entry for it" pod_row 3
check "  weftd's IPAM holds one IPv4 and one IPv6 address for it ($(held_by 3 4)$(held_by 3 6))" \
	test "$(held_by 3 4)$(held_by 3 6)" = "$a3 $(addr6_of "$r3") "
pod_keys() { ls "$STATE/keys" | grep -vcx hub.key; }
check "nothing held twice: 4 records, 4 IPv4 and 4 IPv6 addresses ($(held 4), $(held 6)), 2 node veths ($(veths)), 2 pod keys ($(pod_keys)), 4 pods" \
	test "$(ls "$STATE/attachments" | grep -c .)/$(held 4)/$(held 6)/$(veths)/$(pod_keys)/$(pods | grep -c ' alloc ')" = 4/4/4/2/2/4

# --- STATUS before DEL (cniVersion 1.1.0): if it fails, Nomad skips the DEL ---------
kill "$WEFTD_PID"
wait "$WEFTD_PID" 2>/dev/null
status_first() {
	! nomad 4 DEL && has "$(cat "$DIR/err")" '(status)' &&
		grep -q "^a4: nomad-cni: STATUS weft CNI_ARGS=\$" "$TRACE" && no_del 4 &&
		[ -e "$STATE/attachments/${ALLOC[4]}@eth0.json" ]
}
check "weftd stopped: a4's STATUS fails (hub network, 1.1.0), so no DEL is sent and its record stays" status_first
check "weftd started again" start_weftd
check "  a3 reaches a4 again" wait_ping "weft-t$$-a3" "$a4" 10

# --- DEL of every allocation: CNI_ARGS empty, STATUS first for 1.1.0 ------------------
mark=$(wc -l <"$TRACE")
for i in 1 2 3 4; do check "DEL a$i" nomad "$i" DEL; done
del_trace() { # INDEX: the plugin runs since $mark
	tail -n +$((mark + 1)) "$TRACE" | grep "^a$1: nomad-cni: " | grep -oE '(ADD|CHECK|STATUS|DEL) .*' | tr '\n' '|'
}
check "  mesh (1.0.0): tuning then weft, each with an empty CNI_ARGS, no STATUS" \
	test "$(del_trace 1)$(del_trace 2)" = "DEL tuning CNI_ARGS=|DEL weft CNI_ARGS=|DEL tuning CNI_ARGS=|DEL weft CNI_ARGS=|"
check "  hub (1.1.0): STATUS, then DEL, both with an empty CNI_ARGS" \
	test "$(del_trace 3)$(del_trace 4)" = "STATUS weft CNI_ARGS=|DEL weft CNI_ARGS=|STATUS weft CNI_ARGS=|DEL weft CNI_ARGS=|"
check "  no attachment record left" none . ls "$STATE/attachments"
check "  no address held (IPv4 and IPv6)" none '^[0-9a-f]+[.:]' ls "$STATE/ipam/4" "$STATE/ipam/6"
check "  no veth left on the node" none '^[0-9]+: weft[0-9a-f]{8}@' ip -n "$NS1" -o link
no_routes() { none ' dev weft' ip -n "$NS1" route && none ' dev weft' ip -n "$NS1" -6 route; }
check "  no route to a pod left on the node" no_routes
hub_alone() { [ "$(ls "$STATE/keys")" = hub.key ] && none . ip netns exec "$NS1" wg show "$HUB" peers; }
check "  no pod key left (only the hub's), the hub has no peer" hub_alone
check "  weft pods: no pods" sh -c "ip netns exec $NS1 $WEFT pods --socket $SOCK 2>&1 | grep -q 'no pods'"
del_again() { nomad 1 DEL && nomad 3 DEL; }
check "DEL again succeeds (mesh and hub)" del_again

# --- cni_config_dir errors, as Nomad reports them (no plugin runs) -----------------
BAD=$DIR/bad
mkdir "$BAD"
cp "$DIR/config/20-weftmesh.conflist" "$BAD/"
bad() { # NAME: an ADD of a1 on cni/NAME from $BAD
	ip netns exec "$NS1" "$DRIVER" --config-dir "$BAD" --cni-path "$DIR/bin:/usr/lib/cni" --cache-dir "$DIR/cache" \
		--netns "/var/run/netns/weft-t$$-a1" ADD "$1" "${ALLOC[1]}" 2>"$DIR/err"
}
refused() { # NAME TEXT: the driver fails with TEXT, before any plugin
	! bad "$1" >/dev/null && has "$(cat "$DIR/err")" "$2" && ! grep -q 'nomad-cni: ADD ' "$DIR/err"
}
check "cni/NoSuchNet: \"CNI network config not found for name\", lowercased" \
	refused NoSuchNet 'failed to load CNI config: CNI network config not found for name "nosuchnet"'
printf '{"cniVersion":"1.0.0","name":"broken","plugins":[' >"$BAD/10-broken.conflist"
check "an unparseable conflist in the dir aborts, though weftmesh is there" \
	refused WeftMesh "failed to load CNI config list file $BAD/10-broken.conflist"
echo '{"cniVersion":"1.0.0","name":"notype"}' >"$BAD/05-notype.conf"
check "  and a .conf without a type (one plugin's configuration)" \
	refused WeftMesh "failed to load CNI config file $BAD/05-notype.conf"
check "  nothing was attached" none . ls "$STATE/attachments"
finish
