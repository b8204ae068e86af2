#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Makes Debian's current kernel available for the QEMU tests (tests/vm/run.sh),
# without installing it on the host, and installs the host packages they need.
#
#   tests/vm/kernel.sh     # as root; prints the paths and writes them to
#                          # $WEFT_VM_CACHE/kernel.env (default /var/cache/weft-vm)
#   . "${WEFT_VM_CACHE:-/var/cache/weft-vm}/kernel.env"
#       WEFT_VM_KVER     e.g. 6.1.0-NN-amd64
#       WEFT_VM_VMLINUZ  the compressed image (boot/vmlinuz-KVER)
#       WEFT_VM_VMLINUX  the same kernel uncompressed (an ELF that QEMU boots through
#                        PVH, about 4 s faster under TCG: no XZ to unpack); empty
#                        if it could not be extracted
#       WEFT_VM_ROOT     the unpacked package, for modprobe -d / depmod -b
#       WEFT_VM_MODDIR   WEFT_VM_ROOT/lib/modules/KVER
#
# The image package named by `apt-cache depends linux-image-amd64` is downloaded
# once (apt-get download), unpacked with dpkg -x into the cache, given its
# modules.dep (depmod -b) and its uncompressed vmlinux. Later calls take about
# 0.05 s while the apt lists are unchanged. If the archive cannot be reached,
# the newest kernel already in the cache is used.
set -euo pipefail

CACHE=${WEFT_VM_CACHE:-/var/cache/weft-vm}
env_file=$CACHE/kernel.env
die() { echo "kernel.sh: $*" >&2; exit 1; }

# Host packages: qemu, a static busybox for the guest, cpio to pack the
# initramfs, kmod (depmod, modprobe) for the modules, xz for the vmlinux.
updated=0
apt_update() {
	[ $updated = 1 ] && return 0
	apt-get update -qq || die "apt-get update failed (no access to Debian's archive?)"
	updated=1
}
need=()
for p in qemu-system-x86 busybox-static cpio kmod xz-utils; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "missing packages ${need[*]}: run as root, or apt-get install them"
	echo "kernel.sh: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt_update
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
		die "apt-get install ${need[*]} failed"
fi

mkdir -p "$CACHE" || die "cannot create the cache folder $CACHE (set WEFT_VM_CACHE)"
# One kernel.sh at a time (run.sh calls it; tests may run side by side).
exec 9>"$CACHE/.lock"
flock 9

# Fast path: no package list changed since kernel.env was written, so
# linux-image-amd64 still names the kernel it points at.
if [ -f "$env_file" ] &&
	[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -newer "$env_file" 2>/dev/null)" ]; then
	# shellcheck source=/dev/null
	. "$env_file"
	if [ -f "${WEFT_VM_ROOT:-}/.ready" ] && [ -f "${WEFT_VM_VMLINUZ:-}" ]; then
		cat "$env_file"
		exit 0
	fi
fi

# The image package the metapackage points at, e.g. linux-image-6.1.0-NN-amd64.
image_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1
}
pkg=$(image_pkg)
[ -n "$pkg" ] || { apt_update; pkg=$(image_pkg); }

# download PKG: into the cache, unless a .deb of it is there already.
download() {
	ls "$CACHE/$1"_*.deb >/dev/null 2>&1 && return 0
	echo "kernel.sh: downloading $1" >&2
	# As root apt would hand the download to user _apt, who cannot write here.
	(cd "$CACHE" && apt-get download -qq -o APT::Sandbox::User=root "$1") && return 0
	apt_update
	(cd "$CACHE" && apt-get download -qq -o APT::Sandbox::User=root "$1")
}

# prepare PKG: unpacks it into $CACHE/PKG with modules.dep and boot/vmlinux-KVER,
# unless done already ($CACHE/PKG/.ready holds KVER).
prepare() {
	local dir=$CACHE/$1 tmp=$CACHE/$1.tmp kver off
	[ -f "$dir/.ready" ] && return 0
	download "$1" || return 1
	rm -rf "$tmp"
	dpkg -x "$CACHE/$1"_*.deb "$tmp" ||
		die "dpkg -x $CACHE/$1_*.deb failed (a broken download? delete it and run again)"
	kver=$(ls "$tmp/lib/modules" | head -n1)
	if [ -z "$kver" ] || [ ! -f "$tmp/boot/vmlinuz-$kver" ]; then
		die "$1 holds no boot/vmlinuz-KVER and lib/modules/KVER"
	fi
	depmod -b "$tmp" "$kver" || die "depmod -b $tmp $kver failed"
	# The XZ stream inside the bzImage is the ELF vmlinux (as the kernel's
	# scripts/extract-vmlinux finds it). Optional: run.sh falls back on vmlinuz.
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$tmp/boot/vmlinuz-$kver" | head -n1 | cut -d: -f1 || true)
	if [ -n "$off" ]; then
		tail -c +$((off + 1)) "$tmp/boot/vmlinuz-$kver" | xz -dcq --single-stream >"$tmp/boot/vmlinux-$kver" || true
	fi
	if [ "$(head -c4 "$tmp/boot/vmlinux-$kver" 2>/dev/null)" != $'\x7fELF' ]; then
		echo "kernel.sh: could not extract an uncompressed vmlinux; run.sh will boot vmlinuz (slower)" >&2
		rm -f "$tmp/boot/vmlinux-$kver"
	fi
	echo "$kver" >"$tmp/.ready"
	rm -rf "$dir"
	mv "$tmp" "$dir"
}

if [ -z "$pkg" ] || ! prepare "$pkg"; then
	# No archive: fall back on whatever the cache holds.
	ready=$(ls -d "$CACHE"/linux-image-*/.ready 2>/dev/null | sort -V | tail -n1 || true)
	[ -n "$ready" ] || die "cannot find or download a Debian kernel (apt-cache depends linux-image-amd64, apt-get download); this needs Debian's archive once"
	pkg=$(basename "$(dirname "$ready")")
	echo "kernel.sh: cannot fetch the current kernel; using the cached $pkg" >&2
fi

root=$CACHE/$pkg
kver=$(cat "$root/.ready")
vmlinux=$root/boot/vmlinux-$kver
[ -f "$vmlinux" ] || vmlinux=
cat >"$env_file.tmp" <<ENV
WEFT_VM_KVER='$kver'
WEFT_VM_VMLINUZ='$root/boot/vmlinuz-$kver'
WEFT_VM_VMLINUX='$vmlinux'
WEFT_VM_ROOT='$root'
WEFT_VM_MODDIR='$root/lib/modules/$kver'
ENV
mv "$env_file.tmp" "$env_file"
cat "$env_file"
