#!/bin/sh
# SPDX-License-Identifier: MIT
# Guest script: proves the QEMU environment of tests/vm/run.sh works.
#
#   tests/vm/run.sh tests/vm/smoke.sh
#
# Kernel WireGuard (link, key, wg show), iproute2's ip with netns, a veth pair
# into a namespace with a ping across, weft-wg on /dev/net/tun answering wg, and
# a tunnel between kernel WireGuard in namespace x and weft-wg in the root one:
#
#   ┌ root ───────────────────────┐  veth  ┌ x ──────────────────────────┐
#   │ v0   10.99.1.1              │◄──────►│ v1   10.99.1.2              │
#   │ wgu0 192.168.241.1 (weft-wg)│        │ wgk  192.168.241.2 (kernel) │
#   └─────────────────────────────┘        └─────────────────────────────┘
#
# Prints PASS/FAIL per check and "N passed, N failed"; exits 1 on any failure.
set -eu
umask 077
passed=0
failed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
# check NAME CMD...: passes when CMD succeeds; shows its output when it fails.
check() {
	name=$1
	shift
	if out=$("$@" 2>&1); then pass "$name"; else fail "$name"; echo "$out" | sed 's/^/    /'; fi
}

check "vm: ip is iproute2's" sh -c 'ip -V | grep -q iproute2'
check "vm: kernel wireguard link" ip link add wg0 type wireguard
wg genkey >/tmp/wg0.key
check "vm: wg set private-key" wg set wg0 private-key /tmp/wg0.key listen-port 51820
check "vm: wg show wg0" sh -c 'wg show wg0 | grep -q "public key: $(wg pubkey </tmp/wg0.key)"'

check "vm: ip netns add" ip netns add x
check "vm: veth pair into netns" sh -c '
	ip link add v0 type veth peer name v1 netns x &&
	ip addr add 10.99.1.1/24 dev v0 && ip link set v0 up &&
	ip -n x link set lo up &&
	ip -n x addr add 10.99.1.2/24 dev v1 && ip -n x link set v1 up'
check "vm: ping across veth" ping -c1 -W5 10.99.1.2

check "vm: /dev/net/tun" test -c /dev/net/tun
weft-wg -f wgu0 >/tmp/weft-wgu0.log 2>&1 &
weft_pid=$!
i=0
while [ ! -S /var/run/wireguard/wgu0.sock ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
check "vm: weft-wg -f wgu0 answers wg show" wg show wgu0

# Kernel WireGuard (socket in x) to weft-wg (socket in the root namespace).
wg genkey >/tmp/wgu0.key
wg genkey >/tmp/wgk.key
check "vm: tunnel kernel wireguard <-> weft-wg" sh -c '
	ip -n x link add wgk type wireguard &&
	ip netns exec x wg set wgk private-key /tmp/wgk.key listen-port 51822 \
		peer "$(wg pubkey </tmp/wgu0.key)" allowed-ips 192.168.241.1/32 &&
	ip -n x addr add 192.168.241.2/24 dev wgk && ip -n x link set wgk up &&
	wg set wgu0 private-key /tmp/wgu0.key listen-port 51821 \
		peer "$(wg pubkey </tmp/wgk.key)" allowed-ips 192.168.241.2/32 endpoint 10.99.1.2:51822 &&
	ip addr add 192.168.241.1/24 dev wgu0 && ip link set wgu0 up &&
	ping -c1 -W5 192.168.241.2 &&
	ip netns exec x ping -c1 -W5 192.168.241.1'

kill "$weft_pid" 2>/dev/null || true
if [ $failed -gt 0 ]; then echo "weft-wg log:"; sed 's/^/    /' /tmp/weft-wgu0.log; fi
echo "$passed passed, $failed failed"
[ $failed = 0 ]
