# SPDX-License-Identifier: MIT
# Shared by the podman tests (72_podman.sh, 73_hostports.sh), sourced after
# lib.sh: podman 4.3 on its CNI backend, run in $NS1 (the node) with its
# own storage, run state, networks and plugins in $DIR, a busybox image,
# and weftd serving the pod subnet 10.72.$N.0/24, fd72:$N::/64 (its hub
# device $HUB).
#
#   podman_setup APPLET...   skips the test (and exits) without podman and
#                            runc; else the underlay, weftd, and the image
#                            with busybox linked as sh, ip, ping, sleep,
#                            cat and each APPLET
#   start_weftd              weftd in $NS1 (again, after a kill)
#   run NAME NETWORK [ARG...] [-- CMD...]   podman run -d (sleep 600 without CMD)
#   cx NAME CMD...           podman exec
#   ip_of / ip6_of NAME NETWORK   the container's address as podman inspect shows it

WEFTD=$ROOT/$BUILD/weftd
WEFT=$ROOT/$BUILD/weft
DIR=$(mktemp -d /tmp/weft-podman.XXXXXX)
SOCK=$DIR/weftd.sock
STATE=$DIR/weftd
# The hub's UAPI socket is /var/run/wireguard/NAME.sock, shared by every
# namespace: a name of this test's own, or two tests at once collide.
HUB=wt${N}h
agent='"agentSocket":"'$SOCK'","agentStateDir":"'$STATE'"'
# nsenter, not ip netns exec: that remounts /sys, and runc then finds no
# cgroup mounts.
P="nsenter --net=/run/netns/$NS1 podman --root $DIR/storage --runroot $DIR/run --storage-driver vfs"
cleanup_podman() {
	$P rm -af -t 0 >/dev/null 2>&1
	$P rmi -af >/dev/null 2>&1
	cleanup
	rm -rf "$DIR"
}
trap cleanup_podman EXIT

# ip netns exec itself, not n1: a function run with & is a subshell of its
# own, and $! would be that subshell's pid, not weftd's (kill -9 $WEFTD_PID
# left weftd running). A socket left by a weftd killed -9 goes first: weftd
# listens once it has rebuilt every device, and that is what to wait for.
start_weftd() {
	rm -f "$SOCK"
	ip netns exec "$NS1" "$WEFTD" --state-dir "$STATE" --socket "$SOCK" --pod-subnet "10.72.$N.0/24" --pod-subnet6 "fd72:$N::/64" \
		--hub-name "$HUB" --log-level verbose >>"$LOGS/weft-weftd-$$.log" 2>&1 &
	WEFTD_PID=$!
	PIDS+=($WEFTD_PID)
	wait_socket "$SOCK"
}

podman_setup() {
	local l
	if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
		skip "podman and runc are not installed (scripts/install-deps installs them)"
		finish
		exit
	fi
	# podman's own files all in $DIR: storage (vfs: no overlay mounts to
	# leave behind), run state, networks, plugins. crun refuses cgroups in
	# hybrid mode and the default rlimits are refused here (../shared/notes).
	mkdir -p "$DIR/net.d" "$DIR/bin" "$DIR/rootfs/bin"
	cat >"$DIR/containers.conf" <<-EOF
	[network]
	network_backend = "cni"
	cni_plugin_dirs = ["$DIR/bin", "/usr/lib/cni"]
	network_config_dir = "$DIR/net.d"
	[containers]
	default_ulimits = []
	[engine]
	runtime = "runc"
	tmp_dir = "$DIR/tmp"
	events_logger = "none"
	EOF
	export CONTAINERS_CONF=$DIR/containers.conf
	cp "$ROOT/$BUILD/weft-cni" "$DIR/bin/weft"
	cp "$ROOT/$BUILD/weft-cni" "$DIR/bin/wg-cni"
	cp /bin/busybox "$DIR/rootfs/bin/"
	for l in sh ip ping sleep cat "$@"; do ln -s busybox "$DIR/rootfs/bin/$l"; done
	setup_underlay
	start_weftd
	check "podman imports a busybox image" sh -c "tar -C $DIR/rootfs -c . | $P import - localhost/weft-bb"
}

run() {
	local name=$1 net=$2 args=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	[ $# -gt 0 ] || set -- sleep 600
	$P run -d --name "$name" --network "$net" --ulimit host --cap-add NET_RAW "${args[@]}" localhost/weft-bb "$@"
}
cx() { local c=$1; shift; $P exec "$c" "$@"; }
ip_of() { $P inspect "$1" --format "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}"; }
ip6_of() { $P inspect "$1" --format "{{(index .NetworkSettings.Networks \"$2\").GlobalIPv6Address}}"; }
