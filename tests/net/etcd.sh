# SPDX-License-Identifier: MIT
# A three-member etcd cluster on the loopback of namespace $NS1, for the
# store and manager tests. Needs BASE (the first of six ports), TMP (data
# directories and logs) and lib.sh's PIDS, n1.
#
#   member K: client http://127.0.0.1:BASE+2K-1, peer :BASE+2K

client() { echo "http://127.0.0.1:$((BASE + 2 * $1 - 1))"; }
peer() { echo "http://127.0.0.1:$((BASE + 2 * $1))"; }
ENDPOINTS="$(client 1),$(client 2),$(client 3)"
CLUSTER="m1=$(peer 1),m2=$(peer 2),m3=$(peer 3)"

start_member() {
	ip netns exec "$NS1" etcd --name "m$1" --data-dir "$TMP/m$1" \
		--listen-client-urls "$(client "$1")" --advertise-client-urls "$(client "$1")" \
		--listen-peer-urls "$(peer "$1")" --initial-advertise-peer-urls "$(peer "$1")" \
		--initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token "weft-t$$" \
		--logger zap --log-level error >"$TMP/etcd-m$1.log" 2>&1 &
	ETCD[$1]=$!
	PIDS+=($!)
}

# healthy ENDPOINTS: every one listed answers a quorum read, within 20 s.
healthy() {
	for _ in $(seq 100); do
		n1 etcdctl --endpoints "$1" --command-timeout 2s endpoint health >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	n1 etcdctl --endpoints "$1" --command-timeout 2s endpoint health
	tail -n 5 "$TMP"/etcd-m*.log
	return 1
}

