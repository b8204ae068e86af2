#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Behaviour of weft-wg as wg(8) sees it: counters, roaming, key changes,
# keepalives, peer removal, cryptokey routing on the way in, low-order keys.
# The far side is wireguard-go unless IMPL2 says otherwise.
. "$(dirname "$0")/lib.sh"

IMPL2=${IMPL2:-go}
pair weft "$IMPL2" || { fail "setup"; finish; exit 1; }
ping1 192.168.241.2 1 >/dev/null

# --- wg show transfer against the interface's own counters --------------
# Each ping of 100 bytes is a 128-byte IP packet, padded to 128 and sent as
# a 160-byte data message: the two counters must move by exactly that.
if_bytes() { n1 cat "/sys/class/net/$WG1/statistics/$1"; }
tx0=$(wg_peer_field "$NS1" "$WG1" 7)
iftx0=$(if_bytes tx_bytes)
ifpk0=$(if_bytes tx_packets)
n1 ping -c 10 -i 0.05 -s 100 -W 2 192.168.241.2 >/dev/null
tx1=$(wg_peer_field "$NS1" "$WG1" 7)
iftx1=$(if_bytes tx_bytes)
ifpk1=$(if_bytes tx_packets)
if [ $((iftx1 - iftx0)) -eq 1280 ] && [ $((ifpk1 - ifpk0)) -eq 10 ] && [ $((tx1 - tx0)) -eq 1600 ]; then
	pass "wg transfer matches interface counters (10 x 128 B packets = 1600 B of messages)"
else
	fail "wg transfer vs interface: if +$((iftx1 - iftx0)) B/$((ifpk1 - ifpk0)) pkts, wg +$((tx1 - tx0)) B"
fi
rx_if=$(n2 cat "/sys/class/net/$WG2/statistics/rx_bytes")
rx_wg=$(wg_peer_field "$NS2" "$WG2" 6)
if [ "$rx_wg" -gt "$rx_if" ]; then pass "far side counts received message bytes ($rx_wg > $rx_if)"; else fail "far side rx counters ($rx_wg vs $rx_if)"; fi

# --- roaming: the far side follows our new address, then our new port ---
n1 ip addr del "10.99.$N.1/24" dev veth1
n1 ip addr add "10.99.$N.3/24" dev veth1
check "roaming: ping after changing our address" ping1 192.168.241.2 2
ep=$(n2 wg show "$WG2" endpoints | awk '{print $2}')
check "roaming: peer endpoint is now 10.99.$N.3:$PORT1 (is $ep)" test "$ep" = "10.99.$N.3:$PORT1"
n1 wg set "$WG1" listen-port $((PORT1 + 1))
check "roaming: ping after changing our port" ping1 192.168.241.2 2
ep=$(n2 wg show "$WG2" endpoints | awk '{print $2}')
check "roaming: peer endpoint follows the port (is $ep)" test "$ep" = "10.99.$N.3:$((PORT1 + 1))"
check "listen port reported" test "$(n1 wg show "$WG1" listen-port)" = $((PORT1 + 1))
n1 wg set "$WG1" listen-port 0
p0=$(n1 wg show "$WG1" listen-port)
check "listen-port 0 picks a free port ($p0)" test "$p0" -gt 0
check "ping from the picked port" ping1 192.168.241.2 2

# --- private key change: sessions die until the far side learns the key --
NEWKEY=$(wg genkey)
NEWPUB=$(echo "$NEWKEY" | wg pubkey)
n1 wg set "$WG1" private-key <(echo "$NEWKEY")
check "new private key shown" test "$(n1 wg show "$WG1" public-key)" = "$NEWPUB"
if n1 ping -c 2 -i 0.3 -W 1 192.168.241.2 >/dev/null 2>&1; then
	fail "private key change: old sessions no longer carry traffic"
else
	pass "private key change: old sessions no longer carry traffic"
fi
n2 wg set "$WG2" peer "$PUB1" remove
n2 wg set "$WG2" peer "$NEWPUB" allowed-ips 192.168.241.1/32,fd00::1/128
# Our last refused initiation holds the next one back for REKEY_TIMEOUT
# (5 s): allow for that retry.
check "private key change: traffic resumes with the new key" wait_ping "$NS1" 192.168.241.2 12
PUB1=$NEWPUB

# --- persistent keepalive: empty packets every interval ------------------
rx0=$(wg_peer_field "$NS2" "$WG2" 6)
n1 wg set "$WG1" peer "$PUB2" persistent-keepalive 1
sleep 2.5
rx1=$(wg_peer_field "$NS2" "$WG2" 6)
ka=$(( (rx1 - rx0) / 32 ))
if [ "$ka" -ge 2 ] && [ "$ka" -le 5 ]; then pass "persistent keepalive: $ka empty messages in 2.5 s"; else fail "persistent keepalive: $ka empty messages in 2.5 s"; fi
check "persistent keepalive shown" sh -c "ip netns exec $NS1 wg show $WG1 persistent-keepalive | grep -q '	1\$'"
n1 wg set "$WG1" peer "$PUB2" persistent-keepalive 0

# --- cryptokey routing inbound: a source outside the allowed IPs --------
# ns1 sends from 192.168.241.99, which ns2 does not allow for this peer.
n1 ip addr add 192.168.241.99/32 dev "$WG1"
n2 wg set "$WG2" peer "$PUB1" allowed-ips 192.168.241.1/32,fd00::1/128
n1 wg set "$WG1" peer "$PUB2" allowed-ips 192.168.241.0/24,fd00::2/128
rxp0=$(n2 cat "/sys/class/net/$WG2/statistics/rx_packets")
txw0=$(wg_peer_field "$NS1" "$WG1" 7)
n1 ping -c 3 -i 0.2 -W 1 -I 192.168.241.99 192.168.241.2 >/dev/null 2>&1
rxp1=$(n2 cat "/sys/class/net/$WG2/statistics/rx_packets")
txw1=$(wg_peer_field "$NS1" "$WG1" 7)
if [ "$txw1" -gt "$txw0" ] && [ "$rxp1" -eq "$rxp0" ]; then
	pass "packets from a source outside the allowed IPs are sent, decrypted and dropped"
else
	fail "inner source check: sent +$((txw1 - txw0)) B, far side delivered +$((rxp1 - rxp0)) packets"
fi
check "allowed source still passes" ping1 192.168.241.2 2

# --- removing a peer stops traffic ---------------------------------------
n1 wg set "$WG1" peer "$PUB2" remove
check "peer removed from wg show" none . n1 wg show "$WG1" peers
if ping1 192.168.241.2 2 >/dev/null 2>&1; then fail "no traffic after removing the peer"; else pass "no traffic after removing the peer"; fi

# --- low-order public keys never get a packet ---------------------------
# A plain UDP listener stands where the peer's endpoint points.
n2 python3 -c '
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 9)); s.settimeout(0.2)
end = time.time() + 60
while time.time() < end and not os.path.exists(sys.argv[1]):
    try: s.recv(4096); print("datagram", flush=True)
    except socket.timeout: pass
' /tmp/weft-lowkey-$$.stop >/tmp/weft-lowkey-$$.out &
lpid=$!
check "a UDP listener stands at the peer's endpoint" wait_listen "$NS2" udp 9
for k in AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
	4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA= X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEVc= \
	7P///////////////////////////////////////38=; do
	n1 wg set "$WG1" peer "$k" endpoint "10.99.$N.2:9" allowed-ips 10.200.0.0/16 persistent-keepalive 1
	n1 ping -c 1 -W 1 10.200.0.1 >/dev/null 2>&1
	n1 wg set "$WG1" peer "$k" remove
done
sleep 1 # a keepalive sent late would still arrive
got=$(wc -l </tmp/weft-lowkey-$$.out)
check "low-order peer keys: no datagram leaves ($got seen)" test "$got" = 0
# The control: the same steps with an ordinary key do reach the listener.
k=$(wg genkey | wg pubkey)
n1 wg set "$WG1" peer "$k" endpoint "10.99.$N.2:9" allowed-ips 10.200.0.0/16 persistent-keepalive 1
n1 ping -c 1 -W 1 10.200.0.1 >/dev/null 2>&1
sent() { [ "$(wc -l </tmp/weft-lowkey-$$.out)" -gt 0 ]; }
for _ in $(seq 50); do sent && break; sleep 0.1; done
check "  while an ordinary key's handshake does ($(wc -l </tmp/weft-lowkey-$$.out) seen)" sent
n1 wg set "$WG1" peer "$k" remove
touch /tmp/weft-lowkey-$$.stop
wait $lpid
rm -f /tmp/weft-lowkey-$$.out /tmp/weft-lowkey-$$.stop

finish
