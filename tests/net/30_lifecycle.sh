#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# weft-wg as a program: daemonizing, exiting cleanly, refusing bad input
# through the raw protocol, and standing in for wireguard-go under wg-quick.
. "$(dirname "$0")/lib.sh"

setup_underlay
sock=/var/run/wireguard/$WG1.sock
# exited PID: the process was found (PID is not empty) and is gone.
exited() { [ -n "$1" ] && ! kill -0 "$1" 2>/dev/null; }

# --- daemonizing ---------------------------------------------------------
n1 "$WEFT_WG" "$WG1"
rc=$?
check "daemonizes and returns 0 (got $rc)" test "$rc" = 0
check "interface exists once it returns" n1 ip link show "$WG1"
check "socket exists once it returns, mode 0700" sh -c "[ -S $sock ] && [ \$(stat -c %a $sock) = 700 ]"
check "wg show answers" n1 wg show "$WG1"
pid=$(pgrep -f "weft-wg $WG1\$")
check "daemon runs in its own session (pid $pid)" same "$pid" "$(ps -o sid= -p "$pid" | tr -d ' ')"
n1 "$WEFT_WG" "$WG1" 2>/tmp/weft-second-$$.err
rc=$?
check "a second daemon for the same interface fails (rc $rc)" test "$rc" != 0
check "  and says why" grep -q "$WG1" /tmp/weft-second-$$.err
rm -f /tmp/weft-second-$$.err

# --- exit when the interface is deleted (what wg-quick down does) --------
n1 ip link del "$WG1"
for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check "exits when the interface is deleted" exited "$pid"
check "  and removes its socket" test ! -e "$sock"

# --- exit on SIGTERM -----------------------------------------------------
n1 "$WEFT_WG" "$WG1"
pid=$(pgrep -f "weft-wg $WG1\$")
kill -TERM "$pid"
for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check "exits on SIGTERM" exited "$pid"
check "  removing socket and interface" sh -c "[ ! -e $sock ] && ! ip netns exec $NS1 ip link show $WG1 2>/dev/null"

# --- exit when the socket file is removed --------------------------------
n1 "$WEFT_WG" "$WG1"
pid=$(pgrep -f "weft-wg $WG1\$")
rm -f "$sock"
for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check "exits when its socket file is removed" exited "$pid"
check "  and removes its interface" sh -c "! ip netns exec $NS1 ip link show $WG1 2>/dev/null"

# --- usage ---------------------------------------------------------------
"$WEFT_WG" >/dev/null 2>&1
check "no arguments: usage, non-zero" test $? != 0
check "--version" sh -c "$WEFT_WG --version | grep -q weft-wg"
"$WEFT_WG" 'this-name-is-far-too-long' 2>/tmp/weft-name-$$.err
check "an over-long name is refused with a message" grep -q "not a valid interface name" /tmp/weft-name-$$.err
rm -f /tmp/weft-name-$$.err

# --- the raw protocol: errors, and nothing half-applied ------------------
start_wg "$NS1" "$WG1" weft
uapi() { python3 - "$sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode().decode('unicode_escape').encode())
out = b''
while not out.endswith(b'\n\n'):
    chunk = s.recv(65536)
    if not chunk: break
    out += chunk
sys.stdout.write(out.decode())
PY
}
n1 wg set "$WG1" private-key <(echo "$KEY1") listen-port "$PORT1" peer "$PUB2" allowed-ips 10.1.0.0/16 endpoint 10.99.$N.2:$PORT2
before=$(uapi 'get=1\n\n')
check "get ends with errno=0" sh -c "echo \"\$0\" | grep -q '^errno=0\$'" "$before"
r=$(uapi 'set=1\nlisten_port\n\n')
check "malformed line: errno=-71 (got $(echo $r))" test "$(echo $r)" = "errno=-71"
hex2=$(python3 -c 'import base64,sys; print(base64.b64decode(sys.argv[1]).hex())' "$PUB2")
r=$(uapi "set=1\nlisten_port=1234\npublic_key=$hex2\nallowed_ip=10.9.0.0/16\nbogus=1\n\n")
check "unknown key: errno=-22 (got $(echo $r))" test "$(echo $r)" = "errno=-22"
after=$(uapi 'get=1\n\n')
check "a rejected request changes nothing" same "$before" "$after"
r=$(uapi "set=1\nprivate_key=00\n\n")
check "short key: errno=-22" test "$(echo $r)" = "errno=-22"
check "  and the error names the field in the log" grep -q "private_key: not a key" "$LOGS/weft-$WG1.log"
check "  without echoing the secret" sh -c "! grep -q 'private_key=00' $LOGS/weft-$WG1.log"
n1 ip link set "$WG1" up
n1 python3 -c 'import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 4545)); time.sleep(60)' &
holder=$!
check "something else holds UDP 4545" wait_listen "$NS1" udp 4545
before=$(uapi 'get=1\n\n')
r=$(uapi 'set=1\nlisten_port=4545\nfwmark=7\n\n')
check "port in use: errno=-98 (got $(echo $r))" test "$(echo $r)" = "errno=-98"
check "  and nothing else changed (no fwmark)" same "$before" "$(uapi 'get=1\n\n')"
check "  wg names the problem" sh -c "ip netns exec $NS1 wg set $WG1 listen-port 4545 2>&1 | grep -q 'Address already in use'"
two=$(python3 - "$sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b'get=1\n\nget=1\n\n')
out = b''
while out.count(b'errno=0\n\n') < 2:
    chunk = s.recv(65536)
    if not chunk: break
    out += chunk
print(out.count(b'errno=0'))
PY
)
check "several requests on one connection" test "$two" = 2
kill $holder 2>/dev/null
wait $holder 2>/dev/null

# --- wg setconf, addconf, syncconf --------------------------------------
P=()
for i in 1 2 3 4; do P+=("$(wg genkey | wg pubkey)"); done
conf=/tmp/weft-conf-$$.conf
printf '[Interface]\nPrivateKey = %s\nListenPort = %s\n' "$KEY1" "$PORT1" >"$conf"
for i in 0 1 2; do printf '\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.50.%d.0/24\nEndpoint = 10.99.%d.%d:%d\nPersistentKeepalive = %d\n' \
	"${P[$i]}" "$i" "$N" $((i + 10)) $((30000 + i)) $((i + 20)) >>"$conf"; done
n1 wg setconf "$WG1" "$conf"
check "setconf: three peers" test "$(n1 wg show "$WG1" peers | wc -l)" = 3
check "setconf: allowed IPs, endpoints, keepalives as given" sh -c "ip netns exec $NS1 wg show $WG1 dump | awk 'NR>1 {print \$1, \$3, \$4, \$8}' | sort >/tmp/weft-got-$$ &&
	printf '%s 10.99.$N.10:30000 10.50.0.0/24 20\n%s 10.99.$N.11:30001 10.50.1.0/24 21\n%s 10.99.$N.12:30002 10.50.2.0/24 22\n' ${P[0]} ${P[1]} ${P[2]} | sort | cmp - /tmp/weft-got-$$"
printf '[Peer]\nPublicKey = %s\nAllowedIPs = 10.50.3.0/24\n' "${P[3]}" >/tmp/weft-add-$$.conf
n1 wg addconf "$WG1" /tmp/weft-add-$$.conf
check "addconf: a fourth peer, the others kept" test "$(n1 wg show "$WG1" peers | wc -l)" = 4
printf '[Interface]\nPrivateKey = %s\nListenPort = %s\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.60.0.0/16\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.50.3.0/24\n' \
	"$KEY1" "$PORT1" "${P[1]}" "${P[3]}" >"$conf"
n1 wg syncconf "$WG1" "$conf"
check "syncconf: exactly the two peers of the file" sh -c "[ \"\$(ip netns exec $NS1 wg show $WG1 peers | sort)\" = \"\$(printf '%s\n' ${P[1]} ${P[3]} | sort)\" ]"
check "syncconf: a changed peer takes the new allowed IPs" sh -c "ip netns exec $NS1 wg show $WG1 allowed-ips | grep -q '${P[1]}	10.60.0.0/16\$'"
check "showconf round-trips through setconf" sh -c "ip netns exec $NS1 wg showconf $WG1 >/tmp/weft-rt-$$ && ip netns exec $NS1 wg setconf $WG1 /tmp/weft-rt-$$ && ip netns exec $NS1 wg showconf $WG1 | cmp - /tmp/weft-rt-$$"
rm -f "$conf" /tmp/weft-add-$$.conf /tmp/weft-got-$$ /tmp/weft-rt-$$

# --- wg-quick with WG_QUICK_USERSPACE_IMPLEMENTATION=weft-wg -------------
n1 ip link del "$WG1" 2>/dev/null
sleep 0.3
start_wg "$NS2" "$WG2" go
n2 wg set "$WG2" private-key <(echo "$KEY2") listen-port "$PORT2" peer "$PUB1" allowed-ips 192.168.241.1/32
n2 ip addr add 192.168.241.2/24 dev "$WG2"
n2 ip link set "$WG2" up
conf=/tmp/$WG1.conf
cat >"$conf" <<EOF
[Interface]
PrivateKey = $KEY1
Address = 192.168.241.1/24
ListenPort = $PORT1

[Peer]
PublicKey = $PUB2
Endpoint = 10.99.$N.2:$PORT2
AllowedIPs = 192.168.241.2/32
EOF
chmod 600 "$conf"
bindir=$(mktemp -d)
ln -s "$WEFT_WG" "$bindir/weft-wg"
n1 env PATH="$bindir:$PATH" WG_QUICK_USERSPACE_IMPLEMENTATION=weft-wg wg-quick up "$conf" >/tmp/weft-wgq-$$.log 2>&1
check "wg-quick up with weft-wg" test $? = 0
check "  ping through it" wait_ping "$NS1" 192.168.241.2 5
check "  wg-quick set the MTU (1420)" test "$(n1 cat /sys/class/net/$WG1/mtu)" = 1420
check "  wg showconf round-trips the config" sh -c "ip netns exec $NS1 wg showconf $WG1 | grep -q 'Endpoint = 10.99.$N.2:$PORT2'"
n1 env PATH="$bindir:$PATH" wg-quick down "$conf" >>/tmp/weft-wgq-$$.log 2>&1
check "wg-quick down" test $? = 0
sleep 0.5
check "  leaves no daemon, socket or interface" sh -c "! pgrep -f 'weft-wg $WG1\$' && [ ! -e $sock ] && ! ip netns exec $NS1 ip link show $WG1 2>/dev/null"

# A default route through the tunnel: wg-quick marks our UDP socket
# (fwmark) so that the tunnel's own packets bypass it.
if command -v nft >/dev/null || command -v iptables-restore >/dev/null; then
	sed -i 's|^AllowedIPs = .*|AllowedIPs = 0.0.0.0/0|' "$conf"
	n2 wg set "$WG2" peer "$PUB1" allowed-ips 0.0.0.0/0
	n2 ip addr add 10.250.0.1/32 dev lo
	n1 env PATH="$bindir:$PATH" WG_QUICK_USERSPACE_IMPLEMENTATION=weft-wg wg-quick up "$conf" >>/tmp/weft-wgq-$$.log 2>&1
	check "wg-quick up with a default route (fwmark)" test $? = 0
	check "  fwmark set on the device" test "$(n1 wg show "$WG1" fwmark)" = "0xca6c"
	check "  an address beyond the peer is reached through the tunnel" wait_ping "$NS1" 10.250.0.1 5
	n1 env PATH="$bindir:$PATH" wg-quick down "$conf" >>/tmp/weft-wgq-$$.log 2>&1
	check "  wg-quick down" test $? = 0
else
	skip "wg-quick default route: neither nft nor iptables installed"
fi
rm -rf "$bindir" "$conf"
[ "$FAILED" = 0 ] && rm -f /tmp/weft-wgq-$$.log || cat /tmp/weft-wgq-$$.log

# The interface moved to another namespace (ip link set netns; Docker does
# it to a container's): the device follows it, its UDP socket stays, as
# the kernel's WireGuard does (wireguard.com/netns). Then deleted there.
NS3=weft-t$$-3
trap 'ns_del "$NS3"; cleanup' EXIT
start_wg "$NS1" "$WG1" weft
n1 wg set "$WG1" private-key <(echo "$KEY1") listen-port "$PORT1" peer "$PUB2" endpoint "10.99.$N.2:$PORT2" \
	allowed-ips 192.168.241.2/32
n2 wg set "$WG2" peer "$PUB1" allowed-ips 192.168.241.1/32
ip netns add "$NS3"
n1 ip link set "$WG1" netns "$NS3"
ip -n "$NS3" link set "$WG1" name wgmoved
ip -n "$NS3" addr add 192.168.241.1/24 dev wgmoved
ip -n "$NS3" link set wgmoved up
check "moved to another namespace and renamed: traffic flows from there" wait_ping "$NS3" 192.168.241.2 5
check "  the socket stayed behind: still UDP port $PORT1 in $NS1" sh -c "ip netns exec $NS1 ss -Hnlu 'sport = :$PORT1' | grep -q ."
check "  wg show still reads it by its first name" sh -c "ip netns exec $NS1 wg show $WG1 | grep -q 'latest handshake'"
ip -n "$NS3" link del wgmoved
check "  deleted there: the daemon ends" sh -c "for i in \$(seq 40); do pgrep -f 'weft-wg $WG1\$' >/dev/null || exit 0; sleep 0.05; done; exit 1"
ns_del "$NS3"

finish
