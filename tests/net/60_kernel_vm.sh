#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Kernel WireGuard, which this machine's kernel lacks: Debian's own kernel
# booted under QEMU (tests/vm/run.sh) runs tests/vm/guest_kernel.sh (the
# device API's kernel backend, wg(8) agreeing with it, container placement,
# weft-wg with the kernel's WireGuard), tests/vm/guest_cni.sh (weft-cni's
# static mode, alone and chained after the reference bridge plugin),
# tests/vm/guest_agent.sh (weftd on kernel WireGuard: modes hub and mesh,
# hub pods with podToPod, kill -9 and adoption of the kernel's interfaces), tests/vm/guest_cluster.sh
# (two nodes joined through weft-manager on kernel WireGuard, hub pods named
# eth0 like the node's own interface, adoption after kill -9),
# tests/vm/guest_gateway.sh (two clusters joined through kernel WireGuard
# gateways: adoption of the gateway device, failover, a leftover device
# removed) and tests/vm/smoke.sh. Their PASS and
# FAIL lines are this test's.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
export WEFT_BUILD=$ROOT/$BUILD
# Sanitizer builds run several times slower under emulation.
[ "$BUILD" = build-san ] && export VM_TIMEOUT=${VM_TIMEOUT:-900}
status=0
# The reference CNI plugins, for chaining in guest_cni.
cni_dir=$(dirname "$(dpkg -L containernetworking-plugins 2>/dev/null | grep '/bridge$' | head -1)")
for guest in guest_kernel guest_cni guest_agent guest_cluster guest_gateway smoke; do
	echo "# VM: $guest"
	out=$(bash "$ROOT/tests/vm/run.sh" "$ROOT/tests/vm/$guest.sh" "$cni_dir/bridge" "$cni_dir/host-local" 2>&1)
	rc=$?
	echo "$out" | grep -E '^(PASS|FAIL|SKIP) |^    |^# |AddressSanitizer|runtime error|LeakSanitizer'
	if [ "$rc" != 0 ] && ! echo "$out" | grep -q '^FAIL '; then
		echo "FAIL VM run of $guest (exit $rc): $(echo "$out" | tail -3 | tr '\n' ' ')"
	fi
	[ "$rc" = 0 ] || status=1
done
exit $status
