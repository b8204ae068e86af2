#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The manager's store (lib/store) through one suite, tests/tools/kvsuite:
# on SQLite, then on a real three-member etcd cluster, then on that cluster
# again after kill -9 of the member first in the endpoint list (the backend
# moves on to the next endpoint; two of three members keep the quorum).
# Then the cluster registry and IPAM (lib/cluster) through
# tests/tools/clustersuite on both, with two store connections racing on
# etcd as two managers would. The suites' PASS/FAIL lines are part of this
# test's output.
#
#   $TMP/store.db ◄── kvsuite sqlite:$TMP/store.db
#
#   ┌─── $NS1, its lo 127.0.0.1 only ────────────────────────────────────┐
#   │ etcd m1  client :BASE+1  peer :BASE+2 ◄──┐ (later kill -9)         │
#   │ etcd m2  client :BASE+3  peer :BASE+4 ◄──┤                         │
#   │ etcd m3  client :BASE+5  peer :BASE+6 ◄──┤                         │
#   │                                          └── kvsuite etcd:m1,m2,m3 │
#   └────────────────────────────────────────────────────────────────────┘
. "$(dirname "$0")/lib.sh"

KVSUITE=$ROOT/$BUILD/tests/tools/kvsuite
CLUSTERSUITE=$ROOT/$BUILD/tests/tools/clustersuite
TMP=$(mktemp -d /tmp/weft-store.XXXXXX)
BASE=$((30000 + $$ % 1000 * 10))
ETCD=()
cleanup_more() {
	cleanup # stops the members (PIDS), then deletes $NS1 with anything left in it
	rm -rf "$TMP"
}
trap cleanup_more EXIT

. "$(dirname "$0")/etcd.sh"

# suite NAME CMD...: kvsuite's lines as they come, then its verdict. Bounded,
# so that a cluster that stopped answering fails the test instead of hanging it.
suite() {
	local name=$1 rc
	shift
	timeout 300 "$@" 2>&1
	rc=$?
	if [ "$rc" = 0 ]; then pass "$name"; else fail "$name (exit status $rc)"; fi
}

suite "kv suite on SQLite" "$KVSUITE" "sqlite:$TMP/store.db"
suite "cluster suite on SQLite" "$CLUSTERSUITE" "sqlite:$TMP/cluster.db"

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
	skip "kv suite on etcd: etcd and etcdctl are not installed"
	finish
	exit
fi
ip netns add "$NS1"
n1 ip link set lo up
local_ports "$NS1" 50000 60999 # away from $BASE and on
for i in 1 2 3; do start_member "$i"; done
if healthy "$ENDPOINTS"; then
	pass "a three-member etcd cluster is up and healthy"
	suite "kv suite on etcd" ip netns exec "$NS1" "$KVSUITE" "etcd:$ENDPOINTS"
	suite "cluster suite on etcd, two managers' connections racing" ip netns exec "$NS1" "$CLUSTERSUITE" \
		"etcd:$ENDPOINTS" "etcd:$(client 2),$(client 3),$(client 1)"

	kill -9 "${ETCD[1]}"
	wait "${ETCD[1]}" 2>/dev/null
	check "kill -9 of m1, the first endpoint: m1 is gone" sh -c "! kill -0 ${ETCD[1]} 2>/dev/null"
	check "  m2 and m3 keep the quorum" healthy "$(client 2),$(client 3)"
	suite "kv suite on etcd with m1 dead: the backend uses m2 and m3" ip netns exec "$NS1" "$KVSUITE" "etcd:$ENDPOINTS"
	suite "cluster suite on etcd with m1 dead" ip netns exec "$NS1" "$CLUSTERSUITE" "etcd:$ENDPOINTS" \
		"etcd:$(client 3),$(client 2),$(client 1)"
else
	fail "a three-member etcd cluster is up and healthy"
fi
finish
