#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# weft-cni under podman 4.3 with its CNI backend, as a user runs it: podman
# finds the conflist by network name, runs every plugin of it with
# CNI_IFNAME=eth0 and CNI_ARGS "IgnoreUnknown=1;K8S_POD_NAME=<container>",
# parses every result (libcni, then containers/common), and tears down on
# rm, restart and network reload. Every mode: mesh and hub through weftd,
# static (seed 002) alone and chained after bridge + host-local.
#
#   ┌ $NS1: the node (podman runs here) ──────────────┐ veth ┌ $NS2 ───────────────────┐
#   │ weftd: pod subnet 10.72.$N.0/24, fd72:$N::/64    ├──────┤ wireguard-go $WG2       │
#   │ ┌ m1 ┐┌ m2 ┐  mesh: veth eth0                   │      │  10.13.$N.1/24          │
#   │ ┌ h1 ┐┌ h2 ┐  hub: WireGuard eth0 ── $HUB       │      │  peers: s1 (.210),      │
#   │ ┌ s1 ┐       static: WireGuard eth0 ──UDP───────────────►        s2 (.211)        │
#   │ ┌ s2 ┐       bridge eth0 (10.73.$N.x) + wg0 ──UDP───────►                         │
#   └──────────────────────────────────────────────────┘      └─────────────────────────┘
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/podman.sh"
podman_setup

# The WireGuard peer of the static containers: wireguard-go.
KS1=$(wg genkey)
KS2=$(wg genkey)
start_wg "$NS2" "$WG2" go
n2 wg set "$WG2" private-key <(echo "$KEY2") listen-port "$PORT2" \
	peer "$(echo "$KS1" | wg pubkey)" allowed-ips 10.13.$N.210/32 \
	peer "$(echo "$KS2" | wg pubkey)" allowed-ips 10.13.$N.211/32
n2 ip addr add "10.13.$N.1/24" dev "$WG2"
n2 ip link set "$WG2" up

static() { # ADDRESS KEY: seed 002's section, with this test's peer
	echo '{"type":"wg-cni",'$agent',"address":"'$1'/24","privateKey":"'$2'",
	 "peers":[{"endpoint":"10.99.'$N'.2:'$PORT2'","publicKey":"'$PUB2'","allowedIPs":["10.13.'$N'.0/24"],
	 "persistentKeepalive":"25s"}]}'
}
cat >"$DIR/net.d/wmesh.conflist" <<EOF
{"cniVersion":"1.0.0","name":"wmesh","plugins":[{"type":"weft","mode":"mesh",$agent}]}
EOF
cat >"$DIR/net.d/whub.conflist" <<EOF
{"cniVersion":"1.0.0","name":"whub","plugins":[{"type":"weft","mode":"hub",$agent}]}
EOF
cat >"$DIR/net.d/wstatic.conflist" <<EOF
{"cniVersion":"1.0.0","name":"wstatic","plugins":[$(static "10.13.$N.210" "$KS1")]}
EOF
cat >"$DIR/net.d/wchain.conflist" <<EOF
{"cniVersion":"1.0.0","name":"wchain","plugins":[
 {"type":"bridge","bridge":"wpb$N","isGateway":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"10.73.$N.0/24","gateway":"10.73.$N.1"}]],"dataDir":"$DIR/hl"}},
 $(static "10.13.$N.211" "$KS2")]}
EOF

# --- mesh ----------------------------------------------------------------
check "mesh: podman run on a weft network (the result has every MAC podman parses)" run m1 wmesh
check "  and a second container" run m2 wmesh
M2=$(ip_of m2 wmesh)
M2_6=$(ip6_of m2 wmesh)
check "  podman inspect shows its pod subnet address ($M2, $M2_6)" sh -c "echo $M2 | grep -q '^10\.72\.$N\.' && echo $M2_6 | grep -q '^fd72:$N::'"
check "  and the veth's MAC" same "$($P inspect m2 --format '{{.NetworkSettings.Networks.wmesh.MacAddress}}')" \
	"$(cx m2 cat /sys/class/net/eth0/address)"
check "  m1 reaches m2 over IPv4" cx m1 ping -c 2 -W 3 "$M2"
check "  and over IPv6" cx m1 ping -6 -c 2 -W 3 "$M2_6"
pods=$(n1 "$WEFT" pods --socket "$SOCK")
check "  weft pods names the container (podman's K8S_POD_NAME)" sh -c "echo '$pods' | grep -E ' m1 +eth0 +mesh +wmesh'"

# --- hub -----------------------------------------------------------------
check "hub: podman run (a WireGuard interface, MAC 00:00:00:00:00:00)" run h1 whub
check "  and a second container" run h2 whub
check "  podman inspect shows the zero MAC for it" sh -c "[ \"\$($P inspect h1 --format '{{.NetworkSettings.Networks.whub.MacAddress}}')\" = 00:00:00:00:00:00 ]"
check "  h1 reaches h2 through the hub" cx h1 ping -c 2 -W 3 "$(ip_of h2 whub)"
check "  and m1, a mesh pod on the same node" cx h1 ping -c 2 -W 3 "$M2"
check "  the container never sees a key: no private key in podman's record of it" \
	none '[Pp][Rr][Ii][Vv][Aa][Tt][Ee][Kk][Ee][Yy]' $P inspect h1

# --- egress: a host beyond the node, with no route to the pods -------------
# $NS2 answers only what weftd's table masqueraded to the node's address.
check "egress: m1 reaches a host beyond the node ($NS2, 10.99.$N.2)" cx m1 ping -c 2 -W 3 "10.99.$N.2"
check "  over IPv6 too" cx m1 ping -6 -c 2 -W 3 "fd99:$N::2"
check "  and h1, a hub pod" cx h1 ping -c 2 -W 3 "10.99.$N.2"
check "  as the node: weft status lists the table" sh -c "ip netns exec $NS1 $WEFT status --socket $SOCK | grep -q '^masquerade: on (table inet weft)'"

# --- static, seed 002: alone, and chained after bridge + host-local -------
check "static (seed 002): podman run" run s1 wstatic
check "  reaches its wireguard-go peer" cx s1 ping -c 2 -W 3 "10.13.$N.1"
check "chained after bridge + host-local, every plugin given CNI_IFNAME=eth0: podman run" run s2 wchain
check "  eth0 is the bridge's, wg0 is weft's" sh -c "$P exec s2 ip link show eth0 | grep -q link/ether && $P exec s2 ip addr show wg0 | grep -q 10.13.$N.211"
check "  the container reaches the bridge's gateway" cx s2 ping -c 2 -W 3 "10.73.$N.1"
check "  and its WireGuard peer" cx s2 ping -c 2 -W 3 "10.13.$N.1"

# --- podman network reload, restart --------------------------------------
# reload tears every network down and sets it up again (DEL, ADD), asking
# for the same addresses (IP= in CNI_ARGS, which weft ignores as allowed).
# A chained network is left out: podman 4.3 reloads one interface of a
# network, picked at random (docs/runtimes.md).
check "podman network reload of mesh, hub and static containers" $P network reload m1 h1 s1
check "  m1 still reaches m2" cx m1 ping -c 2 -W 3 "$M2"
check "  h2 reaches h1 at its new address" cx h2 ping -c 2 -W 3 "$(ip_of h1 whub)"
check "  s1 still reaches its peer" cx s1 ping -c 2 -W 3 "10.13.$N.1"
check "podman restart of every kind" $P restart -t 0 m2 h2 s2
M2=$(ip_of m2 wmesh)
check "  m1 reaches m2 again" cx m1 ping -c 2 -W 3 "$M2"
check "  h1 reaches h2 again" cx h1 ping -c 2 -W 3 "$(ip_of h2 whub)"
check "  s2 reaches its peer and the bridge again" sh -c "$P exec s2 ping -c 1 -W 3 10.13.$N.1 && $P exec s2 ping -c 1 -W 3 10.73.$N.1"
held=$(ls "$STATE/ipam/4" | grep -c '^10\.')
addrs=$(for c in m1 m2; do ip_of $c wmesh; done; for c in h1 h2; do ip_of $c whub; done)
check "  no address is held twice: 4 containers, 4 distinct addresses, 4 held ($held)" \
	sh -c "[ \$(echo '$addrs' | sort -u | grep -c .) = 4 ] && [ $held = 4 ]"

# --- weftd dies with containers running -----------------------------------
kill -9 "$WEFTD_PID"
wait "$WEFTD_PID" 2>/dev/null
check "with weftd killed (-9), mesh pods still reach each other (the kernel routes)" cx m1 ping -c 1 -W 3 "$M2"
start_weftd
check "weftd restarted: hub pods reach each other again" cx h1 ping -c 2 -W 5 "$(ip_of h2 whub)"
check "  a static pod reaches its peer again" cx s1 ping -c 2 -W 5 "10.13.$N.1"
check "  the chained one too" cx s2 ping -c 2 -W 5 "10.13.$N.1"
check "  and podman can still add a container" run m3 wmesh

# --- podman rm: nothing left ----------------------------------------------
check "podman rm -f of every container" $P rm -f -t 0 m1 m2 m3 h1 h2 s1 s2
check "  no veth or container interface left on the node" none 'weft[0-9a-f]{8}|veth[0-9a-f]{8}' ip -n "$NS1" -o link
check "  no attachment record left" none . ls "$STATE/attachments"
check "  no address held in weft's IPAM" none '^(10|fd)' ls "$STATE/ipam/4" "$STATE/ipam/6"
check "  no pod key left (only the hub's)" sh -c "[ \"\$(ls $STATE/keys)\" = hub.key ]"
check "  host-local released the chain's address" none '^10\.' ls "$DIR/hl/wchain"
check "  weft pods is empty" sh -c "ip netns exec $NS1 $WEFT pods --socket $SOCK 2>&1 | grep -q 'no pods'"
finish
