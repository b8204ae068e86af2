#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs inside the VM (tests/vm/run.sh), where the kernel has WireGuard:
# the device API's kernel backend, wg(8) agreeing with it, container
# placement, and weft-wg interoperating with the kernel's WireGuard.
#
#   root namespace: kernel devices wgk0..2 (API tests)
#   ┌──── c1 ─────────┐         ┌──── kw (kernel WG) ─────┐  veth  ┌──── uw (weft-wg) ─────┐
#   │ wgc 10.9.0.1    │◄─moved──│ root ns holds wgc's UDP │        │                        │
#   └─────────────────┘         │ wgk 192.168.250.1 fd50::1│◄──────►│ wgu 192.168.250.2 ::2 │
#                               └─────────────────────────┘        └────────────────────────┘
. /test/lib.sh
hex() { echo "$1" | base64 -d | od -An -tx1 -v | tr -d ' \n'; }
field() { awk -v k="$1" -F= '$1 == k { print $2; exit }'; }

# --- the kernel backend through the device API -----------------------------
out=$(wgdevctl --backend auto wgk0 open 2>&1)
check "auto picks the kernel backend ($out)" sh -c "echo '$out' | grep -q 'backend=kernel adopted=0'"
ifindex=$(echo "$out" | sed -n 's/.*ifindex=\([0-9]*\).*/\1/p')
K0=$(wg genkey)
P1=$(wg genkey | wg pubkey)
P2=$(wg genkey | wg pubkey)
cat >/tmp/k0.conf <<EOF
private_key=$(hex "$K0")
listen_port=51820
fwmark=0
public_key=$(hex "$P1")
endpoint=192.0.2.1:51821
persistent_keepalive_interval=25
allowed_ip=10.1.0.0/16
allowed_ip=fd01::/64
public_key=$(hex "$P2")
endpoint=[2001:db8::2]:51822
allowed_ip=10.2.0.0/16
EOF
check "configure through the API" wgdevctl wgk0 set /tmp/k0.conf
got=$(wgdevctl wgk0 get)
check "read back: the private key" test "$(echo "$got" | field private_key)" = "$(hex "$K0")"
check "read back: the port" test "$(echo "$got" | field listen_port)" = 51820
check "read back: two peers" test "$(echo "$got" | grep -c '^public_key=')" = 2
check "wg show agrees: public key" test "$(wg show wgk0 public-key)" = "$(echo "$K0" | wg pubkey)"
check "wg show agrees: peers, endpoints, keepalive" sh -c "wg show wgk0 dump | grep -q '^$P1	(none)	192.0.2.1:51821	10.1.0.0/16,fd01::/64	0	0	0	25\$' &&
	wg show wgk0 dump | grep -q '^$P2	(none)	\[2001:db8::2\]:51822	10.2.0.0/16	0	0	0	off\$'"

out=$(wgdevctl wgk0 open 2>&1)
check "opening it again adopts it ($out)" sh -c "echo '$out' | grep -q 'backend=kernel adopted=1 ifindex=$ifindex'"
check "  with its keys" test "$(wgdevctl wgk0 get | field private_key)" = "$(hex "$K0")"
ip link set wgk0 up
check "  and it can come up" sh -c "ip link show wgk0 | grep -q UP"

# A port in use is refused and nothing else changes.
ip link add wgk1 type wireguard
wg set wgk1 listen-port 51900
ip link set wgk1 up
printf 'listen_port=51900\nfwmark=7\n' >/tmp/bad.conf
out=$(wgdevctl wgk0 set /tmp/bad.conf 2>&1)
check "a port in use is refused with a reason" sh -c "echo \"\$0\" | grep -q 'cannot use UDP port 51900: Address already in use'" "$out"
check "  and nothing half-applied (fwmark still off, port 51820)" sh -c "[ \"\$(wg show wgk0 fwmark)\" = off ] && [ \"\$(wg show wgk0 listen-port)\" = 51820 ]"
ip link del wgk1

check "delete" wgdevctl wgk0 delete
check "  is gone" sh -c "! ip link show wgk0 2>/dev/null"

# --- large configurations: several messages each way -----------------------
check "100 peers, 1500 allowed IPs on one: identical read back" wgdevctl --backend kernel wgk2 roundtrip 100 1500
check "wg show sees the 100 peers" test "$(wg show wgk2 peers | wc -l)" = 100
check "wg show sees all 1797 allowed IPs" test "$(wg show wgk2 allowed-ips | cut -f2 | tr ' ' '\n' | grep -c /)" = 1797
got=$(wgdevctl wgk2 get)
check "wg show and the API list the same peers and prefixes" sh -c "
	wg show wgk2 allowed-ips | while IFS='	' read -r k ips; do
		printf '%s\t%s\n' \"\$(echo \$k | base64 -d | od -An -tx1 -v | tr -d ' \n')\" \"\$ips\"; done | sort >/tmp/a
	echo \"\$0\" | awk -F= '\$1 == \"public_key\" { if (k) print k \"\t\" ips; k = \$2; ips = \"\" }
		\$1 == \"allowed_ip\" { ips = ips (ips ? \" \" : \"\") \$2 } END { print k \"\t\" ips }' | sort >/tmp/b
	cmp /tmp/a /tmp/b" "$got"
ip link del wgk2

# --- the interface in a container, its socket outside ----------------------
ip netns add c1
ip netns add kw
ip -n kw link set lo up
ip -n c1 link set lo up
ip link add vr type veth peer name vk netns kw
ip addr add 10.250.0.1/24 dev vr
ip link set vr up
ip -n kw addr add 10.250.0.2/24 dev vk
ip -n kw link set vk up
out=$(wgdevctl --backend kernel --netns /run/netns/c1 wgc open 2>&1)
check "kernel interface created for a container ($out)" sh -c "echo '$out' | grep -q backend=kernel"
check "  it is in the container" ip -n c1 link show wgc
check "  and not outside" sh -c "! ip link show wgc 2>/dev/null"
KC=$(wg genkey)
KP=$(wg genkey)
printf 'private_key=%s\nlisten_port=51830\npublic_key=%s\nendpoint=10.250.0.2:51831\nallowed_ip=10.9.0.2/32\n' \
	"$(hex "$KC")" "$(hex "$(echo "$KP" | wg pubkey)")" >/tmp/c.conf
check "  configured through the API, in the container's namespace" wgdevctl --netns /run/netns/c1 wgc set /tmp/c.conf
ip -n c1 addr add 10.9.0.1/24 dev wgc
ip -n c1 link set wgc up
ip -n kw link add wgp type wireguard
ip netns exec kw wg set wgp private-key <(echo "$KP") listen-port 51831 peer "$(echo "$KC" | wg pubkey)" endpoint 10.250.0.1:51830 allowed-ips 10.9.0.1/32
ip -n kw addr add 10.9.0.2/24 dev wgp
ip -n kw link set wgp up
check "  the container reaches a peer through the socket outside" ip netns exec c1 ping -c 2 -W 3 10.9.0.2
check "  the container has no UDP socket" none . ip netns exec c1 ss -uanH
ip -n c1 link del wgc
ip -n kw link del wgp
ip link del vr
ip netns del c1

# --- weft-wg and the kernel's WireGuard ------------------------------------
ip netns add uw
ip -n uw link set lo up
ip -n kw link add v1 type veth peer name v2 netns uw
ip -n kw addr add 10.251.0.1/24 dev v1
ip -n kw addr add fd51::1/64 dev v1 nodad
ip -n uw addr add 10.251.0.2/24 dev v2
ip -n uw addr add fd51::2/64 dev v2 nodad
ip -n kw link set v1 up
ip -n uw link set v2 up
ip -n kw link add wgk type wireguard
ip netns exec uw weft-wg wgu
check "weft-wg starts in the guest" ip -n uw link show wgu
KK=$(wg genkey)
KU=$(wg genkey)
setup_pair() { # $1: outer address family, 4 or 6
	local ek=10.251.0.1 eu=10.251.0.2
	[ "$1" = 6 ] && ek="[fd51::1]" && eu="[fd51::2]"
	ip netns exec kw wg set wgk private-key <(echo "$KK") listen-port 51840 peer "$(echo "$KU" | wg pubkey)" \
		endpoint "$eu:51841" allowed-ips 192.168.250.2/32,fd50::2/128
	ip netns exec uw wg set wgu private-key <(echo "$KU") listen-port 51841 peer "$(echo "$KK" | wg pubkey)" \
		endpoint "$ek:51840" allowed-ips 192.168.250.1/32,fd50::1/128
}
reset_pair() {
	ip netns exec kw wg set wgk peer "$(echo "$KU" | wg pubkey)" remove
	ip netns exec uw wg set wgu peer "$(echo "$KK" | wg pubkey)" remove
	setup_pair "$1"
}
setup_pair 4
ip -n kw addr add 192.168.250.1/24 dev wgk
ip -n kw addr add fd50::1/64 dev wgk nodad
ip -n uw addr add 192.168.250.2/24 dev wgu
ip -n uw addr add fd50::2/64 dev wgu nodad
ip -n kw link set wgk up
ip -n uw link set wgu up
for outer in 4 6; do
	reset_pair $outer
	check "outer v$outer: kernel initiates, v4 inside" ip netns exec kw ping -c 2 -W 3 192.168.250.2
	check "outer v$outer: kernel initiates, v6 inside" ip netns exec kw ping -6 -c 2 -W 3 fd50::2
	reset_pair $outer
	check "outer v$outer: weft-wg initiates, v4 inside" ip netns exec uw ping -c 2 -W 3 192.168.250.1
	check "outer v$outer: weft-wg initiates, v6 inside" ip netns exec uw ping -6 -c 2 -W 3 fd50::1
done
check "the kernel saw a handshake with weft-wg" sh -c "[ \"\$(ip netns exec kw wg show wgk latest-handshakes | cut -f2)\" -gt 0 ]"
ip -n uw link del wgu
ip netns del uw
ip netns del kw

echo "# $PASSED passed, $FAILED failed in the VM"
[ "$FAILED" = 0 ]
