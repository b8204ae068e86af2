#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs a script inside Debian's kernel under QEMU (TCG, no KVM needed), where the
# kernel has WireGuard, TUN, veth, bridge and dummy modules loaded.
#
#   tests/vm/run.sh GUEST_SCRIPT [EXTRA_FILE...]       (as root)
#   VM_TIMEOUT=600   seconds before the VM is killed (default 600)
#   VM_SMP=1         virtual CPUs (default 1: under TCG on 2 host cores, 2 was
#                    about 1.5 s slower per smoke run)
#   WEFT_BUILD=DIR   where weft's binaries are (default build/ in this repository)
#   WEFT_VM_CACHE    kernel cache folder, see tests/vm/kernel.sh
#
# Each call builds a fresh initramfs (busybox-static, iproute2's ip and ss, wg,
# build/weft-*, build/weftd and build/tests/tools/*, their libraries, the kernel modules),
# boots it, and streams the guest's console here. In the guest:
#   - GUEST_SCRIPT is /test/run.sh, run as `sh /test/run.sh` (`bash` if its first
#     line names bash) from /test; each EXTRA_FILE is /test/BASENAME.
#   - sh is dash, Debian's /bin/sh, not busybox: busybox's shell runs its own
#     applets before anything on PATH, so `ip` would be busybox's (no netns).
#     Under dash, `ip` is iproute2's (/usr/local/bin/ip -> /bin/ip-full) and every
#     other command is the busybox applet unless a real program is installed.
#   - /run and /tmp are tmpfs, /var/run -> /run, /run/netns exists, lo is up.
# Exit status: the guest script's, read from the console's last line
# "WEFT-VM-EXIT N"; if that line never came, 124 after VM_TIMEOUT, else 1
# (kernel panic, /init failed).
set -euo pipefail

die() { echo "run.sh: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: $0 GUEST_SCRIPT [EXTRA_FILE...]"
guest_script=$1; shift
[ -f "$guest_script" ] || die "no guest script $guest_script"

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${WEFT_BUILD:-$repo/build}
timeout_s=${VM_TIMEOUT:-600}
smp=${VM_SMP:-1}

# The kernel (downloaded once) and the host packages; sets WEFT_VM_*.
"$here/kernel.sh" >/dev/null || die "tests/vm/kernel.sh failed: see its message above"
# shellcheck source=/dev/null
. "${WEFT_VM_CACHE:-/var/cache/weft-vm}/kernel.env"

work=$(mktemp -d "${TMPDIR:-/tmp}/weft-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,proc,sys,dev,run,tmp,var,root,test}
ln -s /run "$root/var/run"

# Copies the library closure of ELF file $1 (per ldd) into the initramfs.
declare -A copied=()
copy_libs() {
	local lib
	for lib in $(ldd "$1" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
		[ -z "${copied[$lib]:-}" ] || continue
		copied[$lib]=1
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib" || die "cannot copy library $lib (needed by $1)"
	done
}
# put SRC DEST: a file at DEST inside the guest, with the libraries it needs.
put() {
	[ -e "$1" ] || die "cannot find $1 on the host"
	mkdir -p "$root$(dirname "$2")"
	cp -L --remove-destination "$1" "$root$2"
	if head -c4 "$1" | grep -q ELF; then copy_libs "$1"; fi
}

# Programs: busybox and its applet links, then real programs that replace some.
put /bin/busybox /bin/busybox
busybox --list-full | (cd "$root" && perl -nle 'lstat; -e _ or -l _ or symlink "/bin/busybox", $_ or die "$_: $!"') ||
	die "cannot make busybox's applet links"
put "$(command -v ip)" /bin/ip-full
ln -s /bin/ip-full "$root/usr/local/bin/ip"
if command -v ss >/dev/null; then put "$(command -v ss)" /usr/bin/ss; fi
put "$(command -v wg)" /usr/bin/wg
put /bin/bash /bin/bash
put /bin/dash /bin/sh

[ -x "$build/weft-wg" ] || echo "run.sh: warning: no $build/weft-wg (run make first)" >&2
for f in "$build"/weft "$build"/weft-* "$build"/weftd "$build"/tests/tools/*; do
	if [ -f "$f" ] && [ -x "$f" ]; then put "$f" "/usr/local/bin/$(basename "$f")"; fi
done
put "$guest_script" /test/run.sh
put "$repo/tests/vm/guest_lib.sh" /test/lib.sh
for f in "$@"; do
	[ -f "$f" ] || die "no extra file $f"
	put "$f" "/test/$(basename "$f")"
done

# Kernel modules, in load order, each once.
: >"$root/etc/modules"
declare -A have_mod=()
for m in wireguard tun veth bridge dummy; do
	modprobe -d "$WEFT_VM_ROOT" -S "$WEFT_VM_KVER" --show-depends "$m" >"$work/deps" ||
		die "modprobe --show-depends $m failed for kernel $WEFT_VM_KVER (delete $WEFT_VM_ROOT and run again)"
	while read -r verb ko opts; do
		[ "$verb" = insmod ] && [ -z "${have_mod[$ko]:-}" ] || continue
		have_mod[$ko]=1
		rel=${ko#"$WEFT_VM_ROOT"}
		mkdir -p "$root$(dirname "$rel")"
		cp "$ko" "$root$rel"
		echo "$rel $opts" >>"$root/etc/modules"
	done <"$work/deps"
done

# /init, run by busybox's shell, which runs its applets through /proc/self/exe:
# until /proc is mounted they must be called as /bin/busybox APPLET.
cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts /dev/shm /run/netns
mount -t devpts devpts /dev/pts
while read -r ko opts; do
	insmod "$ko" $opts || echo "init: insmod $ko failed"
done </etc/modules
if [ ! -c /dev/net/tun ]; then mkdir -p /dev/net && mknod /dev/net/tun c 10 200; fi
export PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin:/test HOME=/root TERM=dumb
/bin/ip-full link set lo up
echo; echo "weft-vm: kernel $(uname -r), $(wc -l </proc/modules) modules, $(nproc) cpus, up $(cut -d' ' -f1 /proc/uptime) s"
cd /test
# Full paths: this busybox shell would run its own sh applet, not dash.
# No input: the host gives the console none, so a read would wait for VM_TIMEOUT.
if head -n1 /test/run.sh | grep -q bash; then /bin/bash /test/run.sh; else /bin/sh /test/run.sh; fi </dev/null
echo "WEFT-VM-EXIT $?"
poweroff -f
INIT
chmod +x "$root/init"

(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$work/initrd" ||
	die "cannot pack the initramfs (cpio, gzip)"

# Boot. The console goes to stdout as it comes; the last marker line decides.
set +e
timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp "$smp" \
	-nographic -no-reboot -nic none \
	-kernel "${WEFT_VM_VMLINUX:-$WEFT_VM_VMLINUZ}" -initrd "$work/initrd" \
	-append "console=ttyS0 quiet panic=-1" </dev/null |
	sed -u 's/\r//g; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' | tee "$work/console"
qemu_status=${PIPESTATUS[0]}
set -e
marker=$(grep -a '^WEFT-VM-EXIT [0-9]*$' "$work/console" | tail -n1 || true)
if [ -z "$marker" ]; then
	if [ "$qemu_status" = 124 ]; then
		echo "run.sh: the VM did not finish within $timeout_s s: killed (raise VM_TIMEOUT if it was only slow)" >&2
		exit 124
	fi
	echo "run.sh: the guest ended without WEFT-VM-EXIT (kernel panic or failed /init; qemu status $qemu_status)" >&2
	exit 1
fi
exit "${marker#WEFT-VM-EXIT }"
