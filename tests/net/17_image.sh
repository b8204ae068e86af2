#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The OCI image (make image, deploy/image): built offline from Debian 12's
# archive and weft's package into a podman store of the test's own, then
# run as an admin would run it, in a namespace standing for the node's
# host network: weft-manager answers its API with its state on a volume;
# weftd (privileged, host network, /run/netns shared with rslave) answers
# weft-cni from the node, and a pod whose namespace was made after weftd
# started gets an address and answers the node.
#
#   $NS1: the node's network; podman --network host runs in it
#     weft-manager (image) 127.0.0.1:$PORT1, state $T/manager
#     weftd (image), socket $T/run/weftd.sock, state $T/weft ── veth ── $NS2: a pod
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/image.sh"
image_setup weft-image podman runc debootstrap dpkg-deb
image_conf

check "make image builds localhost/weft offline (debootstrap, the .deb)" sh -c \
	"cd '$ROOT' && make image PODMAN='$PODMAN' >'$T/make.log' 2>&1"
VERSION=$(sed -n 's/^VERSION := //p' "$ROOT/Makefile")
check "  tagged :$VERSION and :latest, one image" sh -c \
	"[ \"\$($PODMAN image inspect --format '{{.Id}}' localhost/weft:$VERSION)\" = \"\$($PODMAN image inspect --format '{{.Id}}' localhost/weft:latest)\" ]"
check "  labelled with its version" sh -c \
	"$PODMAN image inspect --format '{{index .Labels \"org.opencontainers.image.version\"}}' localhost/weft | grep -qx '$VERSION'"
check "  its programs from the package" sh -c "$PODMAN run --rm --network none localhost/weft dpkg-query -W -f='\${Version}' weft | grep -qx '$VERSION'"

ip netns add "$NS1"
ip -n "$NS1" link set lo up
mkdir -p "$T/manager" "$T/weft" "$T/run"
check "weft-manager from the image (host network, state on a volume)" \
	$P run -d --name manager --network host -v "$T/manager:/var/lib/weft-manager" localhost/weft \
	weft-manager --listen "127.0.0.1:$PORT1"
health() {
	for _ in $(seq 100); do
		[ -s "$T/manager/ca.crt" ] && ip netns exec "$NS1" curl -sf --cacert "$T/manager/ca.crt" \
			"https://127.0.0.1:$PORT1/v1/health" | grep -q '"status":"ok"' && return 0
		sleep 0.1
	done
	return 1
}
check "  answers its API, its CA and tokens on the volume" health
check "  the admin token 0600" sh -c "[ \$(stat -c %a '$T/manager/admin.token') = 600 ]"
check "weftd from the image (privileged, host network, its socket and state on volumes)" \
	$P run -d --name weftd --network host --privileged -v "$T/weft:/var/lib/weft" -v "$T/run:/run/weft" \
	-v /run/netns:/run/netns:rslave localhost/weft
check "  serves on the socket the node's weft-cni uses" wait_socket "$T/run/weftd.sock"
check "  weft status on the node answers" sh -c "ip netns exec $NS1 $ROOT/$BUILD/weft status --socket $T/run/weftd.sock | grep -q 'node: not in a cluster'"
# A pod made after weftd started: its namespace reaches the container
# through the rslave mount.
ip netns add "$NS2"
conf='{"cniVersion":"1.0.0","name":"img","type":"weft","mode":"mesh","agentSocket":"'$T/run/weftd.sock'"}'
cni() { echo "$conf" | ip netns exec "$NS1" env CNI_COMMAND="$1" CNI_CONTAINERID=c1 CNI_NETNS="/run/netns/$NS2" \
	CNI_IFNAME=eth0 CNI_PATH="$ROOT/$BUILD" "$ROOT/$BUILD/weft-cni"; }
out=$(cni ADD)
addr=$(echo "$out" | grep -o '"address":"10\.[0-9.]*' | head -1 | cut -d'"' -f4)
check "a pod gets an address from weftd in the container ($addr)" test -n "$addr"
check "  and answers the node" ip netns exec "$NS1" ping -c 2 -W 3 "$addr"
check "  DEL" cni DEL
check "podman stop: weftd and weft-manager stop on SIGTERM, exit 0" sh -c \
	"$P stop -t 10 weftd manager >/dev/null && [ \"\$($PODMAN inspect --format '{{.State.ExitCode}}' weftd)\" = 0 ] && [ \"\$($PODMAN inspect --format '{{.State.ExitCode}}' manager)\" = 0 ]"
# podman's default network would make a bridge and firewall rules in this
# machine's own namespace: every container here runs with --network none,
# or in the test's namespace.
check "nothing of podman's in this machine's namespace (no cni-podman0)" sh -c "! ip link show cni-podman0 2>/dev/null"
finish
