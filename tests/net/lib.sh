# SPDX-License-Identifier: MIT
# Shared by the namespace tests: topology, daemons, checks, cleanup.
#
#   ┌─────────────────────────────┐  veth  ┌─────────────────────────────┐
#   │ $NS1                        │◄──────►│ $NS2                        │
#   │  veth1 10.99.$N.1 fd99:$N::1│        │  veth2 10.99.$N.2 fd99:$N::2│
#   │  $WG1  192.168.241.1/24     │        │  $WG2  192.168.241.2/24     │
#   │        fd00::1/112          │        │        fd00::2/112          │
#   └─────────────────────────────┘        └─────────────────────────────┘
#
# Everything is named after this shell's pid, so tests can run side by side,
# and everything is removed on exit, pass or fail.

set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
WEFT_WG=$ROOT/$BUILD/weft-wg
N=$(($$ % 200 + 20))
NS1=weft-t$$-1
NS2=weft-t$$-2
WG1=wt${N}a
WG2=wt${N}b
PORT1=$((20000 + N))
PORT2=$((21000 + N))
PIDS=()
# The peer we test against: the current wireguard-go (bookworm-backports,
# fetched by scripts/fetch-wireguard-go), else the one in PATH.
if [ -z "${WIREGUARD_GO:-}" ]; then
	WIREGUARD_GO=wireguard-go
	[ -x /opt/weft-test/usr/bin/wireguard-go ] && WIREGUARD_GO=/opt/weft-test/usr/bin/wireguard-go
fi
export WIREGUARD_GO
# Daemon logs; tests/run collects them to look for sanitizer reports.
LOGS=${WEFT_LOG_DIR:-/tmp}
mkdir -p "$LOGS"
PASSED=0
FAILED=0

pass() { echo "PASS $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }
# check NAME CMD...: passes when CMD succeeds.
check() {
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name"; fi
}
skip() { echo "SKIP $*"; }
# none PATTERN CMD...: CMD succeeds and no line of what it prints matches
# the extended regex PATTERN ("." : it prints nothing). For "nothing is
# left" checks: a listing that fails (a directory, a namespace, a device or
# a daemon gone) must not pass for one that found nothing.
none() {
	local re=$1 out
	shift
	out=$("$@") || { echo "failed: $*"; return 1; }
	if echo "$out" | grep -qE -- "$re"; then
		echo "found: $(echo "$out" | grep -E -- "$re" | head -5)"
		return 1
	fi
}
# same A B: A and B are equal, and not empty: two commands that both failed
# print the same nothing.
same() {
	[ -n "$1" ] && [ "$1" = "$2" ] || { echo "'$1' and '$2'"; return 1; }
}

n1() { ip netns exec "$NS1" "$@"; }
n2() { ip netns exec "$NS2" "$@"; }

# Deletes a namespace after killing whatever still runs inside it, so a
# failed test cannot leave a process behind.
ns_del() {
	local pids
	pids=$(ip netns pids "$1" 2>/dev/null)
	[ -n "$pids" ] && { kill -9 $pids; wait $pids; } 2>/dev/null
	ip netns del "$1" 2>/dev/null
}

cleanup() {
	local p alive
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	pkill -f "weft-wg .*$WG1\$" 2>/dev/null
	pkill -f "weft-wg .*$WG2\$" 2>/dev/null
	pkill -f "wireguard-go .*$WG1\$" 2>/dev/null
	pkill -f "wireguard-go .*$WG2\$" 2>/dev/null
	# A clean exit first (daemons remove their sockets and interfaces)...
	for _ in $(seq 40); do
		alive=0
		for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.05
	done
	# ...then nothing may outlive its namespace.
	ns_del "$NS1"
	ns_del "$NS2"
	rm -f "/var/run/wireguard/$WG1.sock" "/var/run/wireguard/$WG2.sock"
	wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The two namespaces and the veth between them.
setup_underlay() {
	ip netns add "$NS1"
	ip netns add "$NS2"
	n1 ip link set lo up
	n2 ip link set lo up
	ip -n "$NS1" link add veth1 type veth peer name veth2 netns "$NS2"
	n1 ip addr add "10.99.$N.1/24" dev veth1
	n2 ip addr add "10.99.$N.2/24" dev veth2
	n1 ip addr add "fd99:$N::1/64" dev veth1 nodad
	n2 ip addr add "fd99:$N::2/64" dev veth2 nodad
	n1 ip link set veth1 up
	n2 ip link set veth2 up
}

# start_wg NS IFNAME IMPL: IMPL is weft or go.
start_wg() {
	local ns=$1 ifname=$2 impl=$3 bin
	case "$impl" in
	weft) bin=$WEFT_WG ;;
	go) bin=$WIREGUARD_GO ;;
	*) echo "unknown implementation $impl"; return 1 ;;
	esac
	# Foreground, so we own the process; logs go to a file per interface.
	ip netns exec "$ns" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=${LOG_LEVEL:-verbose} \
		"$bin" "$ifname" >"$LOGS/weft-$ifname.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do
		[ -S "/var/run/wireguard/$ifname.sock" ] && ip -n "$ns" link show "$ifname" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "$impl did not create $ifname"
	return 1
}

KEY1=$(wg genkey)
KEY2=$(wg genkey)
PUB1=$(echo "$KEY1" | wg pubkey)
PUB2=$(echo "$KEY2" | wg pubkey)

# configure_pair [V6]: keys, ports, endpoints (IPv4 underlay, or IPv6 if
# V6=1), allowed IPs, tunnel addresses, links up.
configure_pair() {
	local v6=${1:-0} ep1="10.99.$N.1:$PORT1" ep2="10.99.$N.2:$PORT2"
	if [ "$v6" = 1 ]; then
		ep1="[fd99:$N::1]:$PORT1"
		ep2="[fd99:$N::2]:$PORT2"
	fi
	n1 wg set "$WG1" private-key <(echo "$KEY1") listen-port "$PORT1" \
		peer "$PUB2" endpoint "$ep2" allowed-ips 192.168.241.2/32,fd00::2/128
	n2 wg set "$WG2" private-key <(echo "$KEY2") listen-port "$PORT2" \
		peer "$PUB1" endpoint "$ep1" allowed-ips 192.168.241.1/32,fd00::1/128
	n1 ip addr add 192.168.241.1/24 dev "$WG1"
	n2 ip addr add 192.168.241.2/24 dev "$WG2"
	n1 ip addr add fd00::1/112 dev "$WG1" nodad
	n2 ip addr add fd00::2/112 dev "$WG2" nodad
	n1 ip link set "$WG1" up
	n2 ip link set "$WG2" up
}

# A full pair: underlay, daemons IMPL1 and IMPL2, configuration.
pair() {
	setup_underlay && start_wg "$NS1" "$WG1" "$1" && start_wg "$NS2" "$WG2" "$2" && configure_pair "${3:-0}"
}

# wait_ping NS DST SECONDS: succeeds at the first reply within SECONDS.
wait_ping() { ip netns exec "$1" ping -c 1 -w "$3" "$2"; }

# has TEXT NEEDLE...: every needle is in the text (a CNI result or error);
# says which one is missing.
has() {
	local text=$1 n
	shift
	for n in "$@"; do echo "$text" | grep -qF -- "$n" || { echo "missing $n in: $text"; return 1; }; done
}
# addr_of RESULT: the first IPv4 host address (/32) in a CNI result.
addr_of() { echo "$1" | grep -o '"address":"[0-9.]*/32"' | cut -d'"' -f4 | cut -d/ -f1; }
# local_ports NS LOW HIGH: the ports NS's outgoing connections take
# (ip_local_port_range, one per namespace). A test that listens on ports of
# its own inside the default range (32768-60999) moves that range away from
# them: otherwise a connection already made (etcd's members to each other)
# can hold the very port a daemon then fails to bind.
local_ports() { ip netns exec "$1" sysctl -qw net.ipv4.ip_local_port_range="$2 $3"; }
# wait_socket PATH: until a daemon's UNIX socket appears (5 s at most).
wait_socket() {
	for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done
	return 1
}
# wait_listen NS udp|tcp PORT: until a socket in NS listens on PORT (30 s at most). A
# helper started in the background (python3, iperf3) can take seconds to start on a
# loaded machine; a fixed sleep is not enough.
wait_listen() {
	for _ in $(seq 300); do
		ip netns exec "$1" ss -Hnl --"$2" "sport = :$3" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	echo "nothing listens on $2 port $3 in $1 after 30 s"
	return 1
}
ping1() { n1 ping -c "${2:-2}" -i 0.2 -W 2 "$1"; }
ping2() { n2 ping -c "${2:-2}" -i 0.2 -W 2 "$1"; }
ping61() { n1 ping -6 -c "${2:-2}" -i 0.2 -W 2 "$1"; }
ping62() { n2 ping -6 -c "${2:-2}" -i 0.2 -W 2 "$1"; }

# iperf3 TCP for a second from NS1 to NS2 over the tunnel; prints Mbit/s.
iperf_tcp() { iperf_between "$NS1" "$NS2" "${1:-192.168.241.2}" "${2:-1}"; }

# iperf_between CLIENT_NS SERVER_NS DST [SECS] [PORT]: prints Mbit/s; nothing
# when iperf3 failed or nothing arrived (a run that connected and then
# stalled reports 0 bits per second).
iperf_between() {
	local cns=$1 sns=$2 dst=$3 secs=${4:-1} port=${5:-5201} out spid
	ip netns exec "$sns" iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
	spid=$!
	wait_listen "$sns" tcp "$port" >/dev/null
	# Bounded: a dead tunnel must fail the test, not hang it.
	out=$(ip netns exec "$cns" timeout $((secs + 15)) iperf3 -c "$dst" -p "$port" -t "$secs" --connect-timeout 3000 -J 2>/dev/null)
	kill $spid 2>/dev/null
	wait $spid 2>/dev/null
	echo "$out" | python3 -c 'import json,sys; b=json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]; assert b > 0; print(round(b/1e6, 1))' 2>/dev/null
}

# wg_field NS IFNAME FIELD: one column of `wg show dump`'s peer line.
wg_peer_field() {
	ip netns exec "$1" wg show "$2" dump | awk -v f="$3" 'NR == 2 { print $f }'
}

finish() {
	echo "# $PASSED passed, $FAILED failed in $(basename "$0")"
	[ "$FAILED" -eq 0 ]
}
