#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# weftd hosting a container's userspace WireGuard device for weft-cni
# (static mode, on this kernel without WireGuard), as a runtime drives it:
# ADD, traffic, CHECK, kill -9 of the agent mid-traffic and its restart,
# GC, STATUS with the agent down, DEL.
#
#  ┌─── $C1 (container) ───┐          ┌─── $NS1 (node) ─────────────┐  veth  ┌─── $NS2 ─────────┐
#  │ wg0 (TUN) 10.66.0.2   │◄──TUN────│ weftd: the device, its UDP   │◄──────►│ wireguard-go     │
#  └───────────────────────┘          │ socket on 10.99.N.1:$PORT1  │        │ 10.66.0.1        │
#                                      └─────────────────────────────┘        └──────────────────┘
. "$(dirname "$0")/lib.sh"

CNI=$ROOT/$BUILD/weft-cni
WEFTD=$ROOT/$BUILD/weftd
C1=weft-t$$-c1
STATE=$(mktemp -d /tmp/weftd-state.XXXXXX)
SOCK=/run/weft-test-$$/weftd.sock
cleanup_more() {
	ns_del "$C1"
	cleanup
	rm -rf "$STATE" "$(dirname "$SOCK")"
}
trap cleanup_more EXIT
setup_underlay
ip netns add "$C1"
ip -n "$C1" link set lo up

start_weftd() {
	rm -f "$SOCK" # a killed agent leaves its socket: wait for the new one
	ip netns exec "$NS1" "$WEFTD" --state-dir "$STATE" --socket "$SOCK" --log-level verbose >>"$LOGS/weft-weftd-$$.log" 2>&1 &
	WEFTD_PID=$!
	PIDS+=($WEFTD_PID)
	wait_socket "$SOCK"
}
plugin() { # COMMAND [VAR=VALUE...] < config
	local cmd=$1
	shift
	env CNI_COMMAND="$cmd" CNI_CONTAINERID=ctr-$$ CNI_NETNS="/var/run/netns/$C1" CNI_IFNAME=wg0 CNI_PATH=/opt/cni/bin "$@" \
		ip netns exec "$NS1" "$CNI"
}

start_wg "$NS2" "$WG2" go
KC=$(wg genkey)
n2 wg set "$WG2" private-key <(echo "$KEY2") listen-port "$PORT2" peer "$(echo "$KC" | wg pubkey)" allowed-ips 10.66.0.2/32
n2 ip addr add 10.66.0.1/24 dev "$WG2"
n2 ip link set "$WG2" up
CONF='{"cniVersion":"1.1.0","name":"wg","type":"weft","agentSocket":"'$SOCK'","agentStateDir":"'$STATE'",
 "address":"10.66.0.2/24","privateKey":"'$KC'","listenPort":'$PORT1',
 "peers":[{"publicKey":"'$PUB2'","endpoint":"10.99.'$N'.2:'$PORT2'","allowedIPs":["10.66.0.0/24"],"persistentKeepalive":1}]}'

out=$(echo "$CONF" | plugin STATUS CNI_CONTAINERID= CNI_NETNS= CNI_IFNAME=)
check "STATUS with no kernel WireGuard and no agent: code 50" has "$out" '"code":50' 'weftd'
out=$(echo "$CONF" | plugin ADD)
check "ADD with the agent down: code 11, try again" has "$out" '"code":11' 'weftd'
check "  nothing left in the container" sh -c "[ \$(ip -n $C1 -o link | wc -l) = 1 ]"

check "weftd starts" start_weftd
check "STATUS with the agent up" sh -c "echo '$CONF' | CNI_COMMAND=STATUS ip netns exec $NS1 $CNI"
# Only root may talk to the agent: its socket is 0600, and even through a
# socket opened up by mistake the agent checks the caller's credentials.
as_nobody() { echo "$CONF" | CNI_COMMAND=STATUS ip netns exec "$NS1" setpriv --reuid=65534 --regid=65534 --clear-groups "$CNI"; }
check "  the socket is mode 0600" test "$(stat -c %a "$SOCK")" = 600
out=$(as_nobody)
check "  a user other than root cannot connect" has "$out" '"code":50' 'Permission denied'
chmod 0777 "$(dirname "$SOCK")"
chmod 0666 "$SOCK"
out=$(as_nobody)
check "  nor use a socket opened to all: the agent refuses it" has "$out" 'only root may use the node agent'
chmod 0600 "$SOCK"
out=$(echo "$CONF" | plugin ADD)
check "ADD: the agent hosts a userspace device in the container" has "$out" '"name":"wg0"' '"address":"10.66.0.2/24"' '"cniVersion":"1.1.0"'
check "  a TUN in the container" sh -c "ip -d -n $C1 link show wg0 | grep -q tun"
check "  the container reaches wireguard-go" wait_ping "$C1" 10.66.0.1 5
check "  the agent's record is mode 0600" sh -c "[ \$(stat -c %a $STATE/attachments/ctr-$$@wg0.json) = 600 ]"
check "  and no key in the agent's log" sh -c "! grep -qF '$KC' $LOGS/weft-weftd-$$.log"
sed "s|^{|{\"prevResult\":$out,|" <<<"$CONF" >"$STATE/check.json"
check "CHECK" sh -c "ip netns exec $NS1 env CNI_COMMAND=CHECK CNI_CONTAINERID=ctr-$$ CNI_NETNS=/var/run/netns/$C1 CNI_IFNAME=wg0 $CNI <$STATE/check.json"

# kill -9 in the middle of traffic, then a restart: traffic resumes.
ip netns exec "$C1" ping -i 0.1 -c 150 -W 1 10.66.0.1 >"$STATE/ping.out" 2>&1 &
ping_pid=$!
sleep 3
kill -9 "$WEFTD_PID"
wait "$WEFTD_PID" 2>/dev/null
sleep 0.5
check "kill -9: the device went with the agent" sh -c "! ip -n $C1 link show wg0 2>/dev/null"
start_weftd
check "restart: the device is rebuilt from the state directory" sh -c "for i in \$(seq 50); do ip -n $C1 link show wg0 >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1"
check "  and traffic resumes" wait_ping "$C1" 10.66.0.1 10
wait "$ping_pid"
received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$STATE/ping.out")
check "  (the ping running through it all got replies before and after: $received of 150)" test "${received:-0}" -gt 30
check "  one device, not two, and no extra record" sh -c "[ \$(ls $STATE/attachments | grep -c json) = 1 ]"
check "CHECK after the restart" sh -c "ip netns exec $NS1 env CNI_COMMAND=CHECK CNI_CONTAINERID=ctr-$$ CNI_NETNS=/var/run/netns/$C1 CNI_IFNAME=wg0 $CNI <$STATE/check.json"

# GC: an attachment the runtime no longer lists is collected.
GCCONF=$(echo "$CONF" | sed 's|^{|{"cni.dev/valid-attachments":[{"containerID":"other","ifname":"eth0"}],|')
check "GC" sh -c "echo '$GCCONF' | ip netns exec $NS1 env CNI_COMMAND=GC CNI_CONTAINERID= CNI_NETNS= CNI_IFNAME= $CNI"
# gone_all: no wg0 in the container (which is there), no record in the agent's state.
gone_all() { ip -n "$C1" link show lo >/dev/null && ! ip -n "$C1" link show wg0 2>/dev/null && none . ls "$STATE/attachments"; }
check "  collected the attachment not listed" gone_all

# ADD again, then DEL, twice.
echo "$CONF" | plugin ADD >/dev/null
check "DEL" sh -c "echo '$CONF' | ip netns exec $NS1 env CNI_COMMAND=DEL CNI_CONTAINERID=ctr-$$ CNI_NETNS=/var/run/netns/$C1 CNI_IFNAME=wg0 $CNI"
check "  the device and its record are gone" gone_all
check "DEL again" sh -c "echo '$CONF' | ip netns exec $NS1 env CNI_COMMAND=DEL CNI_CONTAINERID=ctr-$$ CNI_NETNS=/var/run/netns/$C1 CNI_IFNAME=wg0 $CNI"

# A container that disappears without DEL is swept (and never rebuilt).
echo "$CONF" | plugin ADD >/dev/null
ns_del "$C1"
kill "$WEFTD_PID"
wait "$WEFTD_PID" 2>/dev/null
start_weftd
sleep 0.5
check "a record whose namespace is gone is dropped at restart" none . ls "$STATE/attachments"
check "the agent never logged a key" sh -c "! grep -qF '$KC' $LOGS/weft-weftd-$$.log"
finish
