#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Host ports: podman 4.3 (CNI backend) `run -p 8080:80` on weft networks
# that chain the reference portmap plugin (Debian's containernetworking-
# plugins 1.1.1) after weft. portmap DNATs the node's port 8080 to the
# container's address from weft's result (iptables-nft, chains CNI-HOSTPORT-*
# and CNI-DN-*). Each container runs busybox httpd on port 80, answering
# its own name and logging each client's address. weftd is stopped and
# started again under a hub pod (its userspace hub is made anew).
#
#   ┌ $NS1: the node (podman, weftd) ────────────────────┐ veth ┌ $NS2: a peer host ┐
#   │ 10.99.$N.1, fd99:$N::1, port 8080 ── DNAT ─┐        ├──────┤ 10.99.$N.2        │
#   │  wm (httpd :80), cm   mesh: veth eth0    ◄──┤        │      │ fd99:$N::2        │
#   │  wh (httpd :80), ch   hub: WireGuard eth0 ◄─┤ $HUB   │      │ curl node:8080    │
#   │  ws (httpd :80), cs   seed 002: bridge eth0 ◄┘ + wg0  │      │                   │
#   └─────────────────────────────────────────────────────┘      └───────────────────┘
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/podman.sh"
podman_setup httpd wget netstat timeout
# Strict reverse path filtering on the node (distributions set 1 or 2): a
# DNAT'd connection's replies must come in where the node's route to the
# container points (the veth; for a hub pod, the hub device).
n1 sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1
# And kube-proxy's guard against route_localnet (CVE-2020-8558), which
# portmap turns on: no packet to 127/8 from elsewhere, unless DNATed.
n1 iptables -I INPUT ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP

portmap='{"type":"portmap","capabilities":{"portMappings":true}}'
cat >"$DIR/net.d/pmesh.conflist" <<EOT
{"cniVersion":"1.0.0","name":"pmesh","plugins":[{"type":"weft","mode":"mesh",$agent},$portmap]}
EOT
cat >"$DIR/net.d/phub.conflist" <<EOT
{"cniVersion":"1.0.0","name":"phub","plugins":[{"type":"weft","mode":"hub",$agent},$portmap]}
EOT
# Seed 002's chain: portmap between the bridge and WireGuard, so it maps to
# the bridge's address. The bridge is the default gateway and in hairpin
# mode, as flannel's delegate is in seed 002: else the container could not
# answer a peer host, nor reach itself through the node. The
# WireGuard peer need not exist: only the port is tested.
cat >"$DIR/net.d/pchain.conflist" <<EOT
{"cniVersion":"1.0.0","name":"pchain","plugins":[
 {"type":"bridge","bridge":"wpb$N","isGateway":true,"isDefaultGateway":true,"hairpinMode":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"10.73.$N.0/24","gateway":"10.73.$N.1"}]],"dataDir":"$DIR/hl"}},
 $portmap,
 {"type":"wg-cni",$agent,"address":"10.13.$N.212/24","privateKey":"$(wg genkey)",
  "peers":[{"endpoint":"10.99.$N.2:$PORT2","publicKey":"$PUB2","allowedIPs":["10.13.$N.0/24"]}]}]}
EOT

# web NAME NETWORK: a container answering its name on port 80, published
# on the node's 8080.
web() {
	run "$1" "$2" -p 8080:80 -- sh -c "mkdir -p /www && echo $1 >/www/index.html && exec httpd -f -v -p 80 -h /www" &&
		listening "$1"
}
restarted() { $P restart -t 0 "$1" && listening "$1"; }
listening() { for _ in $(seq 50); do cx "$1" netstat -ltn | grep -q ':80 ' && return; sleep 0.1; done; return 1; }
# says WANT CMD...: CMD prints WANT.
says() {
	local want=$1 out
	shift
	out=$("$@" 2>&1)
	[ "$out" = "$want" ] || { echo "wanted '$want', got '$out'"; return 1; }
}
# get NS ADDR, cget CONTAINER ADDR: what ADDR:8080 answers, from a namespace
# or a container. busybox 1.35's wget -T dies of SIGSEGV here: timeout.
get() { ip netns exec "$1" curl -sg --max-time 5 "http://$2:8080/"; }
cget() { cx "$1" timeout 5 wget -qO- "http://$2:8080/"; }
NODE=10.99.$N.1
NODE6=[fd99:$N::1]
# rules ID: portmap's NAT rules for the container ID, IPv4 and IPv6 (the ID
# is in their comments).
rules() { { n1 iptables-save -t nat && n1 ip6tables-save -t nat; } | grep -c -- "$1"; }

# hostports NAME NETWORK OTHER: the checks every network gets. OTHER is a
# second container on the same network, without ports.
hostports() {
	local c=$1 net=$2 other=$3 v6
	check "$net: podman run -p 8080:80" web "$c" "$net"
	check "  and a second container, without ports" run "$other" "$net"
	check "  a peer host reaches the node's 8080 and the container answers" says "$c" get "$NS2" "$NODE"
	check "  and sees the peer host's own address, not the node's" sh -c "$P logs $c 2>&1 | grep -F '10.99.$N.2]:'"
	check "  the node reaches its own address's 8080" says "$c" get "$NS1" "$NODE"
	check "  another container on the node reaches the node's 8080" says "$c" cget "$other" "$NODE"
	check "  the container reaches itself through the node's 8080 (hairpin)" says "$c" cget "$c" "$NODE"
	check "  the node reaches 127.0.0.1:8080 (route_localnet, masqueraded)" says "$c" get "$NS1" 127.0.0.1
	v6=$(ip6_of "$c" "$net")
	if [ -n "$v6" ]; then
		check "  over IPv6 ($v6): a peer host reaches the node's 8080" says "$c" get "$NS2" "$NODE6"
		check "  and sees the peer host's own address" sh -c "$P logs $c 2>&1 | grep -F '[fd99:$N::2]:'"
		check "  the node reaches its own address's 8080" says "$c" get "$NS1" "$NODE6"
		check "  another container on the node" says "$c" cget "$other" "$NODE6"
		check "  the container itself (hairpin)" says "$c" cget "$c" "$NODE6"
		# The kernel never routes ::1 off the host: no route_localnet for
		# IPv6, so portmap cannot map it (docs/runtimes.md).
		check "  but not [::1]:8080 (IPv6 loopback is never routed)" not get "$NS1" "[::1]"
	fi
}
not() { ! "$@"; }

# lifecycle NAME NETWORK [noreload]: reload, restart and rm of a published
# container. noreload for a chained network: podman 4.3 reloads one
# interface of it, picked at random (docs/runtimes.md, 72_podman.sh).
lifecycle() {
	local c=$1 net=$2 id n
	id=$($P inspect "$c" --format '{{.Id}}')
	n=$(rules "$id")
	if [ "${3:-}" != noreload ]; then
		check "$net: podman network reload" $P network reload "$c"
		check "  the port still answers" says "$c" get "$NS2" "$NODE"
		check "  with the same rules, not twice ($n)" same "$n" "$(rules "$id")"
	fi
	check "$net: podman restart" restarted "$c"
	check "  the port answers the restarted container" says "$c" get "$NS2" "$NODE"
	check "  with the same rules, not twice ($n)" same "$n" "$(rules "$id")"
	check "podman rm" $P rm -f -t 0 "$c"
	check "  its DNAT rules are gone (CNI-HOSTPORT-DNAT, CNI-DN-*)" same 0 "$(rules "$id")"
	check "  the port no longer answers" not get "$NS2" "$NODE"
}

hostports wm pmesh cm
# weftd's own table, masquerading pods' egress, hooks the same points as
# portmap's iptables-nft rules: connections to published ports keep the
# client's address (checked above), the table and the rules side by side.
check "weft's nftables table (inet weft) and portmap's nat rules, side by side" \
	sh -c "ip netns exec $NS1 nft list table inet weft | grep -q masquerade && ip netns exec $NS1 iptables-save -t nat | grep -q CNI-HOSTPORT-DNAT"
lifecycle wm pmesh
hostports wh phub ch
# portmap turned route_localnet on for the hub at ADD, once. A userspace
# hub is made anew when weftd starts again; weftd notes the value at its
# sweep (every 10 s idle) and when it stops, and gives it back
# (src/weftd/hub.c).
noted() { for _ in $(seq 150); do grep -qx 1 "$STATE/hub.route_localnet" 2>/dev/null && return; sleep 0.1; done; return 1; }
check "weftd notes the hub's route_localnet at its sweep" noted
for sig in KILL TERM; do
	kill -$sig "$WEFTD_PID"
	wait "$WEFTD_PID" 2>/dev/null
	start_weftd
	check "weftd stopped (SIG$sig) and started again: the hub pod's port answers a peer host" \
		says wh get "$NS2" "$NODE"
	check "  and 127.0.0.1 (the new hub has route_localnet again)" says wh get "$NS1" 127.0.0.1
done
lifecycle wh phub
hostports ws pchain cs
lifecycle ws pchain noreload
check "podman rm of the others" $P rm -f -t 0 cm ch cs
check "  no portmap chain or rule is left (CNI-DN-*)" same 0 "$(rules CNI-DN-)"
finish
