#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs inside the VM (kernel WireGuard): weft-cni's static mode as a
# runtime drives it, standalone and chained after the reference bridge
# plugin (copied in as /test/bridge and /test/host-local).
#
#   ┌──── c1 (container) ────┐          ┌──── p1 (peer) ──────────┐
#   │ wg0 10.13.13.210/24    │          │ wgp 10.13.13.1/24        │
#   └───────────▲────────────┘          │ veth 10.252.0.2          │
#        socket in the VM's root ns ───►└──────────────────────────┘
. /test/lib.sh
mkdir -p /opt/cni/bin
cp /test/bridge /test/host-local /opt/cni/bin/ 2>/dev/null
cp /usr/local/bin/weft-cni /opt/cni/bin/weft-cni
# The runtime runs the binary named after "type": weft-cni answers to both.
ln -sf weft-cni /opt/cni/bin/weft
ln -sf weft-cni /opt/cni/bin/wg-cni
# cni VERB NETNS IFNAME < config: runs the plugin the config's type names.
cni() {
	local type
	type=$(sed -n 's/.*"type" *: *"\([^"]*\)".*/\1/p' "$4" | head -1)
	CNI_COMMAND=$1 CNI_CONTAINERID=ctr-$2 CNI_NETNS=${2:+/run/netns/$2} CNI_IFNAME=$3 CNI_PATH=/opt/cni/bin \
		"/opt/cni/bin/$type" <"$4"
}

ip netns add c1
ip netns add p1
ip -n c1 link set lo up
ip -n p1 link set lo up
ip link add vn type veth peer name vp netns p1
ip addr add 10.252.0.1/24 dev vn
ip link set vn up
ip -n p1 addr add 10.252.0.2/24 dev vp
ip -n p1 link set vp up
echo "10.252.0.2 peer.test" >>/etc/hosts

KC=$(wg genkey)
KP=$(wg genkey)
ip -n p1 link add wgp type wireguard
ip netns exec p1 wg set wgp private-key <(echo "$KP") listen-port 51820 peer "$(echo "$KC" | wg pubkey)" allowed-ips 10.13.13.210/32
ip -n p1 addr add 10.13.13.1/24 dev wgp
ip -n p1 link set wgp up

# --- seed 002's configuration, unchanged but for keys and endpoint -------
cat >/tmp/seed.json <<EOF
{
  "cniVersion": "1.0.0",
  "name": "wg",
  "type": "wg-cni",
  "address": "10.13.13.210/24",
  "privateKey": "$KC",
  "peers": [
    {
      "endpoint": "peer.test:51820",
      "publicKey": "$(echo "$KP" | wg pubkey)",
      "allowedIPs": [
        "10.13.13.0/24"
      ],
      "persistentKeepalive": "25s"
    }
  ]
}
EOF
out=$(cni ADD c1 wg0 /tmp/seed.json)
echo "$out" >/tmp/seed.result
check "seed 002's configuration: ADD succeeds" has "$out" '"address":"10.13.13.210/24"'
check "  the result names the interface in its sandbox, with the zero MAC" has "$out" '"name":"wg0","mac":"00:00:00:00:00:00","sandbox":"/run/netns/c1"'
check "  the interface is kernel WireGuard, in the container" sh -c "ip -d -n c1 link show wg0 | grep -q wireguard"
check "  the container reaches its peer (endpoint given by name)" ip netns exec c1 ping -c 2 -W 3 10.13.13.1
check "  keepalive 25 s as given" sh -c "[ \"\$(ip netns exec c1 wg show wg0 persistent-keepalive | cut -f2)\" = 25 ]"
# CHECK with the result as prevResult.
sed "s|^{|{\"prevResult\": $out,|" /tmp/seed.json >/tmp/seed.check.json
check "CHECK after ADD" cni CHECK c1 wg0 /tmp/seed.check.json
ip netns exec c1 wg set wg0 peer "$(echo "$KP" | wg pubkey)" remove
out=$(cni CHECK c1 wg0 /tmp/seed.check.json)
check "CHECK notices a missing peer" has "$out" 'peer missing'
check "DEL" cni DEL c1 wg0 /tmp/seed.json
check "  the interface is gone" sh -c "! ip -n c1 link show wg0 2>/dev/null"
check "DEL again succeeds" cni DEL c1 wg0 /tmp/seed.json
check "DEL without a namespace succeeds" sh -c "CNI_COMMAND=DEL CNI_CONTAINERID=x CNI_IFNAME=wg0 /opt/cni/bin/wg-cni </tmp/seed.json"
check "DEL of a namespace that is gone succeeds" sh -c "CNI_COMMAND=DEL CNI_CONTAINERID=x CNI_NETNS=/run/netns/gone CNI_IFNAME=wg0 /opt/cni/bin/weft-cni </tmp/seed.json"

# --- every configuration version -----------------------------------------
for v in 0.3.0 0.3.1 0.4.0 1.1.0; do
	sed "s/\"1.0.0\"/\"$v\"/; s/\"wg-cni\"/\"weft\"/" /tmp/seed.json >/tmp/v.json
	out=$(cni ADD c1 wg0 /tmp/v.json)
	case $v in
	0.*) check "cniVersion $v: result in $v, ips carry \"version\"" has "$out" "\"cniVersion\":\"$v\"" '"version":"4"' ;;
	*) check "cniVersion $v: result in $v, with the interface MTU" has "$out" "\"cniVersion\":\"$v\"" '"mtu":1420' ;;
	esac
	cni DEL c1 wg0 /tmp/v.json
done

# --- chained after the reference bridge plugin with host-local -----------
ip netns add c2
cat >/tmp/bridge.json <<EOF
{"cniVersion":"1.0.0","name":"br","type":"bridge","bridge":"cnibr0","isGateway":true,
 "ipam":{"type":"host-local","subnet":"10.253.0.0/24","dataDir":"/tmp/hl"}}
EOF
prev=$(cni ADD c2 eth0 /tmp/bridge.json | tr -d '\n')
check "bridge + host-local (reference) ADD" has "$prev" 10.253.0
sed "s|^{|{\"prevResult\": $prev,|; s/10.13.13.210/10.13.13.211/" /tmp/seed.json >/tmp/chained.json
ip netns exec p1 wg set wgp peer "$(echo "$KC" | wg pubkey)" allowed-ips 10.13.13.210/32,10.13.13.211/32
# A runtime gives every plugin of the list the same CNI_IFNAME: weft's own
# interface is then wg0 (its "interface" default), not the bridge's eth0.
out=$(cni ADD c2 eth0 /tmp/chained.json)
check "weft-cni chained after it: the bridge's interfaces and IP pass through" has "$out" 10.253.0 cnibr0
check "  and its own are added, as wg0 with the zero MAC" has "$out" '"name":"wg0","mac":"00:00:00:00:00:00"' '"address":"10.13.13.211/24","interface":3'
check "  both interfaces work: the bridge gateway" ip netns exec c2 ping -c 1 -W 3 10.253.0.1
check "  and the WireGuard peer" ip netns exec c2 ping -c 2 -W 3 10.13.13.1
check "DEL, chained, with the same CNI_IFNAME" cni DEL c2 eth0 /tmp/chained.json
check "  wg0 is gone, the bridge's eth0 stays" sh -c "! ip -n c2 link show wg0 2>/dev/null && ip -n c2 link show eth0 >/dev/null"
# libcni sends no prevResult to DEL for 0.3.x, nor when its cache is lost:
# CNI_IFNAME being the bridge's veth tells weft it was chained.
cni ADD c2 eth0 /tmp/chained.json >/dev/null
sed 's/10.13.13.210/10.13.13.211/' /tmp/seed.json >/tmp/chained-noprev.json
check "DEL without a prevResult finds wg0 behind the bridge's eth0" cni DEL c2 eth0 /tmp/chained-noprev.json
check "  wg0 is gone, eth0 stays" sh -c "! ip -n c2 link show wg0 2>/dev/null && ip -n c2 link show eth0 >/dev/null"
cni DEL c2 eth0 /tmp/bridge.json
ip link del cnibr0 2>/dev/null

# --- bad configurations: an error naming the field, nothing left ---------
bad() { # NAME SED-EXPRESSION EXPECTED-TEXT
	sed "$2" /tmp/seed.json >/tmp/bad.json
	out=$(cni ADD c1 wg0 /tmp/bad.json)
	rc=$?
	check "bad config, $1: code and field named" sh -c "[ $rc != 0 ] && echo \"\$0\" | grep -q '\"code\":7' && echo \"\$0\" | grep -qF '$3'" "$out"
	check "  nothing left behind" sh -c "! ip -n c1 link show wg0 2>/dev/null"
}
bad "public key" 's/"publicKey": "[^"]*"/"publicKey": "nope"/' 'peers[0].publicKey'
bad "private key" 's/"privateKey": "[^"]*"/"privateKey": "short="/' 'privateKey'
bad "unknown mode" 's/"type": "wg-cni",/"type": "wg-cni", "mode": "tunnel",/' 'mode: \"tunnel\"'
bad "no address" '/"address"/d' 'address (or addresses) is required'
bad "address" 's|10.13.13.210/24|10.13.13.300/24|' 'address: \"10.13.13.300/24\"'
bad "allowed IP" 's|"10.13.13.0/24"|"10.13.13.0/99"|' 'peers[0].allowedIPs[0]'
bad "keepalive" 's|"25s"|"soon"|' 'peers[0].persistentKeepalive'
bad "endpoint" 's|peer.test:51820|no.such.host.invalid:51820|' 'peers[0].endpoint: cannot resolve'
echo '{"cniVersion":"1.0.0","name":' >/tmp/bad.json
out=$(CNI_COMMAND=ADD CNI_CONTAINERID=x CNI_NETNS=/run/netns/c1 CNI_IFNAME=wg0 /opt/cni/bin/weft </tmp/bad.json)
check "malformed JSON: code 6 with the position" has "$out" '"code":6' 'line'
check "  nothing left behind" sh -c "! ip -n c1 link show wg0 2>/dev/null"

ip netns del c1
ip netns del c2
ip netns del p1
echo "# $PASSED passed, $FAILED failed in the VM (CNI)"
[ "$FAILED" = 0 ]
