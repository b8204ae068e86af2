#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The systemd units (deploy/systemd): `systemd-analyze verify` passes for
# each, in a root holding systemd's own units and weft's programs where the
# units expect them (systemd is not PID 1 here, so nothing is started);
# and each program speaks the notify protocol as Type=notify needs: run
# under a stand-in for systemd's $NOTIFY_SOCKET (tests/tools/notify-listen),
# it says READY=1 from its own pid once it serves, and STOPPING=1 on
# SIGTERM. weftd, weft-manager and weft-wg each run in a namespace of
# their own.
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/weft-systemd.XXXXXX)
LISTEN=$ROOT/tests/tools/notify-listen
cleanup_more() {
	cleanup
	rm -rf "$T"
}
trap cleanup_more EXIT
if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze is not installed (scripts/install-deps installs systemd)"
	finish
	exit
fi

# --- systemd-analyze verify, in a root of its own --------------------------------
R=$T/root
mkdir -p "$R/usr/lib/systemd" "$R/usr/bin" "$R/usr/sbin" "$R/etc/weft" "$R/lib/systemd/system"
cp -a /usr/lib/systemd/system "$R/usr/lib/systemd/"
install -m 0755 "$ROOT/$BUILD/weft-wg" "$ROOT/$BUILD/weft" "$R/usr/bin/"
install -m 0755 "$ROOT/$BUILD/weftd" "$ROOT/$BUILD/weft-manager" "$R/usr/sbin/"
install -m 0644 "$ROOT"/deploy/systemd/*.service "$R/lib/systemd/system/"
verify() { # UNIT: verify passes and says nothing
	local out
	out=$(systemd-analyze verify --root="$R" "$1" 2>&1) && [ -z "$out" ] || { echo "$out"; return 1; }
}
for u in weftd.service weft-manager.service weft-wg@wg0.service; do
	check "systemd-analyze verify $u" verify "$u"
done
# A control: the same verify fails a unit whose program is missing.
sed 's|/usr/sbin/weftd|/usr/sbin/weftd-missing|' "$R/lib/systemd/system/weftd.service" >"$R/lib/systemd/system/broken.service"
check "  and fails a unit whose program is missing (the check can fail)" sh -c "! systemd-analyze verify --root=$R broken.service"
rm "$R/lib/systemd/system/broken.service"
check "every unit is Type=notify" sh -c "[ \$(grep -l '^Type=notify' $ROOT/deploy/systemd/*.service | wc -l) = 3 ]"

# --- the notify protocol, as systemd would see it --------------------------------
notified() { # NS NAME COMMAND...: READY=1 then STOPPING=1, from COMMAND's pid
	local ns=$1 name=$2
	shift 2
	ip netns exec "$ns" "$LISTEN" "$T/$name.notify" 20 -- "$@" >"$T/$name.out" 2>>"$LOGS/weft-systemd-$$.log" ||
		{ cat "$T/$name.out"; return 1; }
}
said() { # NAME LINE: the program's message said LINE
	grep -q "^[0-9]* $2\$" "$T/$1.out" || { cat "$T/$1.out"; return 1; }
}
ip netns add "$NS1"
ip netns exec "$NS1" ip link set lo up
check "weftd says READY=1 once it serves, then STOPPING=1 on SIGTERM" notified "$NS1" weftd \
	"$ROOT/$BUILD/weftd" --state-dir "$T/weftd" --socket "$T/weftd.sock" --pod-subnet "10.15.$N.0/24" \
	--hub-name "wt$N-hub" --log-level verbose
check "  its status names its socket" said weftd "STATUS=serving on $T/weftd.sock"
check "weft-manager too" notified "$NS1" manager \
	"$ROOT/$BUILD/weft-manager" --state-dir "$T/manager" --listen "127.0.0.1:$PORT1"
check "  its status names its address" said manager "STATUS=serving https://127.0.0.1:$PORT1"
check "weft-wg --foreground too" notified "$NS1" wg "$ROOT/$BUILD/weft-wg" --foreground "$WG1"
check "  its status names its device" said wg "STATUS=serving $WG1"
check "  which is gone after it stopped" sh -c "! ip -n $NS1 link show $WG1"
# A control: a program that never says READY=1 fails the stand-in.
check "a program that never says it is ready fails the check (the check can fail)" \
	sh -c "! '$LISTEN' '$T/sleep.notify' 1 -- sleep 3"
finish
