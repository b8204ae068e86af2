#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Mode "mesh" (node level): weftd gives each container a veth pair and an
# address from the node's pod subnets; pods on one node reach each other
# through it. Then a storm: 50 parallel ADDs and 50 parallel DELs, leaving
# no duplicate address, interface, address record or file descriptor.
#
#   ┌── $C1 ──────────────┐      ┌── $NS1 (node): weftd ───────────────┐      ┌── $C2 ─────────────┐
#   │ eth0 10.70.1.x/32   │◄veth►│ weftXXXXXXXX: 10.70.1.1/32 (each)    │◄veth►│ eth0 10.70.1.y/32  │
#   │      fd70:1::x/128  │      │ routes to each pod, forwarding on     │      │      fd70:1::y/128 │
#   └─────────────────────┘      └──────────────────────────────────────┘      └────────────────────┘
. "$(dirname "$0")/lib.sh"

CNI=$ROOT/$BUILD/weft-cni
WEFTD=$ROOT/$BUILD/weftd
STATE=$(mktemp -d /tmp/weftd-state.XXXXXX)
SOCK=/run/weft-test-$$/weftd.sock
STORM=${STORM:-50}
cleanup_more() {
	for i in $(seq 0 $STORM); do ns_del "weft-t$$-c$i"; done
	cleanup
	rm -rf "$STATE" "$(dirname "$SOCK")"
}
trap cleanup_more EXIT
ip netns add "$NS1"
ip -n "$NS1" link set lo up
ip netns exec "$NS1" "$WEFTD" --state-dir "$STATE" --socket "$SOCK" --pod-subnet 10.70.1.0/24 \
	--pod-subnet6 fd70:1::/64 --log-level verbose >>"$LOGS/weft-weftd-$$.log" 2>&1 &
WEFTD_PID=$!
PIDS+=($WEFTD_PID)
wait_socket "$SOCK"

CONF='{"cniVersion":"1.1.0","name":"mesh","type":"weft","mode":"mesh","agentSocket":"'$SOCK'","agentStateDir":"'$STATE'"}'
cni() { # COMMAND INDEX
	echo "$CONF" | ip netns exec "$NS1" env CNI_COMMAND="$1" CNI_CONTAINERID="ctr-$2" \
		CNI_NETNS="/var/run/netns/weft-t$$-c$2" CNI_IFNAME=eth0 "$CNI"
}

for i in 1 2; do ip netns add "weft-t$$-c$i"; ip -n "weft-t$$-c$i" link set lo up; done
r1=$(cni ADD 1)
r2=$(cni ADD 2)
check "ADD: an address from the pod subnet, the gateway, a default route" has "$r1" '"address":"10.70.1.' '"gateway":"10.70.1.1"' '"dst":"0.0.0.0/0"' '"dst":"::/0"'
check "  and IPv6" has "$r1" '"address":"fd70:1::'
a1=$(addr_of "$r1")
a2=$(addr_of "$r2")
check "two containers, two addresses ($a1, $a2)" test -n "$a1" -a -n "$a2" -a "$a1" != "$a2"
check "pod to pod on one node, IPv4" wait_ping "weft-t$$-c1" "$a2" 5
a62=$(echo "$r2" | grep -o '"address":"fd70:1::[0-9a-f:]*/128"' | cut -d'"' -f4 | cut -d/ -f1)
check "pod to pod, IPv6 ($a62)" ip netns exec "weft-t$$-c1" ping -6 -c 2 -W 3 "$a62"
check "node to pod" wait_ping "$NS1" "$a1" 3
ip netns exec "weft-t$$-c2" iperf3 -s -1 -p 5210 >/dev/null 2>&1 &
PIDS+=($!)
wait_listen "weft-t$$-c2" tcp 5210 >/dev/null
mbit=$(ip netns exec "weft-t$$-c1" timeout 20 iperf3 -c "$a2" -p 5210 -t 1 -J 2>/dev/null |
	python3 -c 'import json,sys; b=json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]; assert b > 0; print(round(b/1e6))' 2>/dev/null)
if [ -n "$mbit" ]; then pass "iperf3 pod to pod ($mbit Mbit/s)"; else fail "iperf3 pod to pod"; fi
cni_check() { echo "$CONF" | sed "s|^{|{\"prevResult\":$r1,|" | ip netns exec "$NS1" env CNI_COMMAND=CHECK CNI_CONTAINERID=ctr-1 \
	CNI_NETNS="/var/run/netns/weft-t$$-c1" CNI_IFNAME=eth0 "$CNI"; }
out=$(cni_check)
rc=$?
check "CHECK: exit 0, nothing printed (rc $rc)" test "$rc/$out" = 0/
ip -n "weft-t$$-c1" addr del "$a1/32" dev eth0
out=$(cni_check)
check "CHECK notices a missing address" has "$out" '"code":100' "lacks $a1/32"
ip -n "weft-t$$-c1" addr add "$a1/32" dev eth0
ip -n "weft-t$$-c1" link set eth0 down
out=$(cni_check)
check "  and an interface down" has "$out" 'eth0 in /var/run/netns/weft-t'$$'-c1 is down'
ip -n "weft-t$$-c1" link set eth0 up
check "DEL" cni DEL 1
check "  the node's end is gone, the address released" sh -c "[ \$(ip -n $NS1 -o link | grep -c weft) = 1 ] && [ ! -e $STATE/ipam/4/$a1 ]"
check "DEL again" cni DEL 1
cni DEL 2 >/dev/null

# --- the storm -----------------------------------------------------------
fds_before=$(ls /proc/$WEFTD_PID/fd | wc -l)
for i in $(seq 1 "$STORM"); do ip netns add "weft-t$$-c$i" 2>/dev/null; done
adds=()
for i in $(seq 1 "$STORM"); do cni ADD "$i" >"$STATE/add.$i" & adds+=($!); done
wait "${adds[@]}"
wait_adds() { for i in $(seq 1 "$STORM"); do grep -q address "$STATE/add.$i" 2>/dev/null || return 1; done; }
check "$STORM parallel ADDs all succeed" wait_adds
dups=$(for i in $(seq 1 "$STORM"); do addr_of "$(cat "$STATE/add.$i")"; done | sort | uniq -d | wc -l)
uniq_count=$(for i in $(seq 1 "$STORM"); do addr_of "$(cat "$STATE/add.$i")"; done | sort -u | wc -l)
check "  $uniq_count distinct addresses, no duplicate" test "$dups" = 0 -a "$uniq_count" = "$STORM"
check "  $STORM node-side veth ends" test "$(ip -n "$NS1" -o link | grep -c weft)" = "$STORM"
dels=()
for i in $(seq 1 "$STORM"); do cni DEL "$i" >"$STATE/del.$i" 2>&1 & dels+=($!); done
wait "${dels[@]}"
check "$STORM parallel DELs leave no interface" none weft ip -n "$NS1" -o link
check "  no address record" none '^[0-9a-f]+[.:]' ls "$STATE/ipam/4" "$STATE/ipam/6"
check "  no attachment record" none . ls "$STATE/attachments"
check "  no route left on the node" none '10\.70\.1\.' ip -n "$NS1" route
# Requests for one container wait for each other: of 8 ADDs at once, one
# attaches and the others are told it is attached; 8 DELs at once all succeed.
races=()
for i in $(seq 1 8); do cni ADD 1 >"$STATE/race.$i" 2>&1 & races+=($!); done
wait "${races[@]}"
check "8 ADDs of one container at once: one attaches" test "$(grep -l '"address"' "$STATE"/race.* | wc -l)" = 1
check "  the others are told it is attached" test "$(grep -l 'already attached' "$STATE"/race.* | wc -l)" = 7
races=()
for i in $(seq 1 8); do (cni DEL 1 && echo ok) >"$STATE/race.$i" 2>&1 & races+=($!); done
wait "${races[@]}"
check "8 DELs of it at once all succeed" test "$(cat "$STATE"/race.* | grep -cx ok)" = 8
nothing_left() { none weft ip -n "$NS1" -o link && none . ls "$STATE/attachments"; }
check "  and nothing is left" nothing_left
# A dead agent has no /proc/PID/fd to count: 0 is not "no more than before".
fds_after=$(ls /proc/$WEFTD_PID/fd 2>/dev/null | wc -l)
check "  no file descriptor leaked by the agent ($fds_before before, $fds_after after)" \
	test "$fds_after" -gt 0 -a "$fds_after" -le "$fds_before"

# --- a second agent on the same machine ------------------------------------
# Its own state, socket and pod subnet (as tests and the lab run them): each
# serves its own containers, and their pods reach each other through the node.
STATE2=$STATE/second
SOCK2=$(dirname "$SOCK")/second.sock
ip netns exec "$NS1" "$WEFTD" --state-dir "$STATE2" --socket "$SOCK2" --pod-subnet 10.70.2.0/24 \
	--pod-subnet6 fd70:2::/64 --log-level verbose >>"$LOGS/weft-weftd-$$.log" 2>&1 &
PIDS+=($!)
wait_socket "$SOCK2"
CONF2=$(echo "$CONF" | sed "s|$SOCK|$SOCK2|; s|\"agentStateDir\":\"$STATE\"|\"agentStateDir\":\"$STATE2\"|")
ra=$(cni ADD 1)
rb=$(echo "$CONF2" | ip netns exec "$NS1" env CNI_COMMAND=ADD CNI_CONTAINERID=ctr-b CNI_NETNS="/var/run/netns/weft-t$$-c2" \
	CNI_IFNAME=eth0 "$CNI")
check "a second agent, its own state and socket, serves its own subnet" has "$rb" '"address":"10.70.2.'
check "  beside the first" has "$ra" '"address":"10.70.1.'
check "  their pods reach each other" wait_ping "weft-t$$-c1" "$(addr_of "$rb")" 5
check "  each keeps only its own records" sh -c "ls $STATE/attachments | grep -qx 'ctr-1@eth0.json' && ls $STATE2/attachments | grep -qx 'ctr-b@eth0.json' && [ \$(ls $STATE/attachments | wc -l) = 1 ]"
cni DEL 1 >/dev/null
echo "$CONF2" | ip netns exec "$NS1" env CNI_COMMAND=DEL CNI_CONTAINERID=ctr-b CNI_NETNS="/var/run/netns/weft-t$$-c2" CNI_IFNAME=eth0 "$CNI"
check "  and let go of them" none weft ip -n "$NS1" -o link
finish
