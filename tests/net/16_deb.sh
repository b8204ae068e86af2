#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian package (make deb, deploy/debian) as an admin meets it: built
# with Debian's tools, lintian-clean, installed with apt-get into a clean
# Debian 12 (a debootstrap'ed chroot, minbase, from the archive) with its
# dependencies, its programs working there (weftd and weft-manager started
# by hand in a namespace, as systemd is not PID 1 here), then purged:
# no file, no /etc/weft or /var/lib/weft, no process left.
#
#   $R: debootstrap --variant=minbase bookworm, /proc and /dev bound in
#   $NS1: lo only; weftd and weft-manager from $R run here, chrooted
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/weft-deb.XXXXXX)
R=$T/root
MIRROR=${WEFT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
in_root() { chroot "$R" "$@"; }
unmount_all() {
	local m
	for m in "$R/dev" "$R/proc"; do
		mountpoint -q "$m" 2>/dev/null && umount "$m"
	done
}
cleanup_more() {
	# Whatever still runs from the chroot, then its mounts, then (only if
	# nothing is mounted there any more) its files.
	local p
	for p in $(pgrep -f "^/usr/s?bin/weft" 2>/dev/null); do
		[ "$(readlink "/proc/$p/root")" = "$R" ] && kill -9 "$p" 2>/dev/null
	done
	cleanup
	unmount_all
	if ! grep -q " $T/" /proc/mounts; then rm -rf "$T"; else echo "left $T: still mounted"; fi
}
trap cleanup_more EXIT
if [ "$BUILD" = build-san ]; then
	# make deb builds the package from a build of its own, without
	# sanitizers: it is checked once, in the plain pass.
	skip "the package is built by make deb, not from $BUILD"
	finish
	exit
fi
for tool in dpkg-deb lintian debootstrap; do
	command -v "$tool" >/dev/null || { skip "$tool is not installed (scripts/install-deps installs it)"; finish; exit; }
done

# --- the package -------------------------------------------------------------------
check "make deb builds it with Debian's tools" sh -c "cd '$ROOT' && make deb >'$T/make.log' 2>&1"
DEB=$(ls "$ROOT"/build/weft_*_"$(dpkg --print-architecture)".deb 2>/dev/null | head -1)
check "  build/weft_VERSION_ARCH.deb ($(basename "${DEB:-none}"))" test -s "${DEB:-/nonexistent}"
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./|/|' >"$T/files"
has_files() { for f in "$@"; do grep -qx "$f" "$T/files" || { echo "no $f"; return 1; }; done; }
check "  weft and weft-wg in /usr/bin, weftd and weft-manager in /usr/sbin" has_files /usr/bin/weft /usr/bin/weft-wg \
	/usr/sbin/weftd /usr/sbin/weft-manager
check "  the CNI plugin in /usr/lib/cni as weft and wg-cni" has_files /usr/lib/cni/weft /usr/lib/cni/wg-cni
check "  the units, the settings, the manual pages" has_files /lib/systemd/system/weftd.service \
	/lib/systemd/system/weft-manager.service /lib/systemd/system/weft-wg@.service /etc/weft/weftd.json \
	/etc/default/weft-manager /usr/share/man/man8/weftd.8.gz /usr/share/doc/weft/copyright
check "  its dependencies declared (libsodium, libnftables, libsystemd...)" sh -c \
	"dpkg-deb -f '$DEB' Depends | grep -q libsodium23 && dpkg-deb -f '$DEB' Depends | grep -q libnftables1 && dpkg-deb -f '$DEB' Depends | grep -q libsystemd0"
check "  the settings are conffiles" sh -c "dpkg-deb -e '$DEB' '$T/ctl' && grep -qx /etc/weft/weftd.json '$T/ctl/conffiles'"
lint() { lintian --fail-on error,warning "$DEB" 2>&1 | grep -v 'running with root privileges'; return "${PIPESTATUS[0]}"; }
check "lintian: no error, no warning (what is overridden says why)" lint

# --- installed on a clean Debian 12 ------------------------------------------------
check "a clean Debian 12 (debootstrap minbase from $MIRROR)" sh -c \
	"debootstrap --variant=minbase bookworm '$R' '$MIRROR' >'$T/debootstrap.log' 2>&1"
mount -t proc proc "$R/proc"
mount --bind /dev "$R/dev"
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null
cp "$DEB" "$R/tmp/"
check "apt-get install ./$(basename "$DEB") there, with its dependencies" sh -c \
	"chroot '$R' sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/$(basename "$DEB")' >'$T/install.log' 2>&1"
check "  dpkg says installed" sh -c "chroot '$R' dpkg-query -W -f='\${Status}' weft | grep -q 'install ok installed'"
check "  its programs run (weft --help, weft-wg --version)" sh -c "chroot '$R' weft --help >/dev/null && chroot '$R' weft-wg --version | grep -q weft-wg"
check "  weft-cni answers VERSION" sh -c "echo '{\"cniVersion\":\"1.0.0\"}' | chroot '$R' env CNI_COMMAND=VERSION /usr/lib/cni/weft | grep -q supportedVersions"
ip netns add "$NS1"
ip netns exec "$NS1" ip link set lo up
# nsenter, not ip netns exec: that makes a mount namespace of its own,
# from which the programs' paths no longer read as the chroot's, and
# prerm's start-stop-daemon (matching by path, as on any host) would not
# know them.
nsenter --net="/run/netns/$NS1" chroot "$R" /usr/sbin/weftd >>"$LOGS/weft-deb-weftd-$$.log" 2>&1 &
nsenter --net="/run/netns/$NS1" chroot "$R" /usr/sbin/weft-manager --listen "127.0.0.1:$PORT1" \
	>>"$LOGS/weft-deb-manager-$$.log" 2>&1 &
check "weftd runs with the packaged settings (its socket in /run/weft)" wait_socket "$R/run/weft/weftd.sock"
check "  weft status answers" sh -c "chroot '$R' weft status | grep -q 'node: not in a cluster'"
check "  its state in /var/lib/weft, 0700" sh -c "[ \$(stat -c %a '$R/var/lib/weft') = 700 ]"
check "weft-manager runs, its state in /var/lib/weft-manager" sh -c \
	"for i in \$(seq 50); do [ -s '$R/var/lib/weft-manager/admin.token' ] && exit 0; sleep 0.1; done; exit 1"

# --- purged ---------------------------------------------------------------------
check "apt-get purge weft" sh -c "chroot '$R' sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq weft' >'$T/purge.log' 2>&1"
running() { # how many processes run a program from the chroot
	local p n=0
	for p in $(pgrep -f "^/usr/s?bin/weft" 2>/dev/null); do
		[ "$(readlink "/proc/$p/root")" = "$R" ] && n=$((n + 1))
	done
	echo "$n"
}
check "  no process left (prerm stopped weftd and weft-manager: $(running) running)" test "$(running)" = 0
check "  dpkg no longer knows it" sh -c "! chroot '$R' dpkg-query -W -f='\${Status}' weft 2>/dev/null | grep -q installed"
gone() { for f in "$@"; do [ ! -e "$R$f" ] || { echo "$f is left"; return 1; }; done; }
check "  no /etc/weft, /var/lib/weft, /var/lib/weft-manager, /run/weft" gone /etc/weft /var/lib/weft /var/lib/weft-manager /run/weft
check "  no program, plugin, unit or default file" gone /usr/sbin/weftd /usr/bin/weft /usr/lib/cni/weft /usr/lib/cni/wg-cni \
	/lib/systemd/system/weftd.service /etc/default/weft-manager /usr/share/doc/weft
finish
