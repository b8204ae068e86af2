#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Interoperability: weft-wg with weft-wg and with wireguard-go, each side
# initiating, IPv4 and IPv6 inside and outside the tunnel, ping and iperf3.
. "$(dirname "$0")/lib.sh"

run_pair() {
	local a=$1 b=$2 v6=$3 label="$1<->$2 outer=$([ "$3" = 1 ] && echo v6 || echo v4)" mbit
	pair "$a" "$b" "$v6" || { fail "$label: setup"; cleanup; return; }
	# NS1 initiates.
	check "$label: ping v4 from ns1" ping1 192.168.241.2 3
	check "$label: ping v6 from ns1" ping61 fd00::2 2
	mbit=$(iperf_tcp 192.168.241.2 1)
	if [ -n "$mbit" ]; then pass "$label: iperf3 tcp ns1->ns2 ($mbit Mbit/s)"; else fail "$label: iperf3 tcp ns1->ns2"; fi
	mbit=$(iperf_tcp fd00::2 1)
	if [ -n "$mbit" ]; then pass "$label: iperf3 tcp over v6 ($mbit Mbit/s)"; else fail "$label: iperf3 tcp over v6"; fi
	# Now NS2 initiates: new keys on both sides force a fresh handshake
	# started from ns2.
	n1 wg set "$WG1" peer "$PUB2" remove
	n2 wg set "$WG2" peer "$PUB1" remove
	n1 wg set "$WG1" peer "$PUB2" endpoint "$([ "$v6" = 1 ] && echo "[fd99:$N::2]" || echo "10.99.$N.2"):$PORT2" allowed-ips 192.168.241.2/32,fd00::2/128
	n2 wg set "$WG2" peer "$PUB1" endpoint "$([ "$v6" = 1 ] && echo "[fd99:$N::1]" || echo "10.99.$N.1"):$PORT1" allowed-ips 192.168.241.1/32,fd00::1/128
	check "$label: ping v4 from ns2 (ns2 initiates)" ping2 192.168.241.1 3
	check "$label: ping v6 from ns2" ping62 fd00::1 2
	local hs
	hs=$(wg_peer_field "$NS1" "$WG1" 5)
	if [ -n "$hs" ] && [ "$hs" -gt 0 ]; then pass "$label: latest handshake reported"; else fail "$label: latest handshake reported ($hs)"; fi
	cleanup
	PIDS=()
}

run_pair weft weft 0
run_pair weft weft 1
run_pair weft go 0
run_pair go weft 0
run_pair weft go 1
finish
