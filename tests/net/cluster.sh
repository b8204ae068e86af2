# SPDX-License-Identifier: MIT
# A cluster on an underlay bridge, for the tests that need one (88_egress,
# 89_clients). Source it after lib.sh, with these set:
#
#   NET4    the bridge's IPv4 /24, three octets: 192.168.88 (the bridge .1,
#           node K .1K)
#   NET6    its IPv6 /64 prefix: fd88 (fd88::1, node K fd88::1K)
#   CIDRS   the manager's cluster CIDRs, space-separated
#   T       the test's own temporary directory
#
# It names everything after the test's pid, as lib.sh does, removes it all
# on exit (every namespace weft-t$$-*, the nodes' UAPI sockets, $T), and
# gives:
#
#   $NET       the underlay's namespace: bridge br0, weft-manager on :7443
#   $NODE      node K's namespace is $NODE$K; its weftd's pid ${WPID[K]}
#   plug NS VETH ADDRESS4 ADDRESS6    a namespace on the bridge
#   start_manager                     weft-manager in $NET, state in $T/mgr
#   api METHOD PATH [BODY]            the API, as the admin
#   start_weftd K [FLAGS...]          node nK's weftd (userspace, device
#                                     wt$N-K, port 51821), joined with
#                                     $T/join.token, socket $T/nK.sock

MANAGER=$ROOT/$BUILD/weft-manager
WEFTD=$ROOT/$BUILD/weftd
WEFT=$ROOT/$BUILD/weft
CNI=$ROOT/$BUILD/weft-cni
NET=weft-t$$-net
NODE=weft-t$$-n
URL=https://$NET4.1:7443
declare -A WPID

cleanup_cluster() {
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep "^weft-t$$-"); do ns_del "$ns"; done
	cleanup
	rm -f /var/run/wireguard/wt$N-[0-9]*.sock
	rm -rf "$T"
}
trap cleanup_cluster EXIT

ip netns add "$NET"
ip -n "$NET" link set lo up
ip -n "$NET" link add br0 type bridge
ip -n "$NET" addr add "$NET4.1/24" dev br0
ip -n "$NET" addr add "$NET6::1/64" dev br0 nodad
ip -n "$NET" link set br0 up

plug() { # NAMESPACE VETH ADDRESS4 ADDRESS6: a namespace on the bridge
	ip netns add "$1"
	ip -n "$1" link set lo up
	ip -n "$NET" link add "$2" type veth peer name eth0 netns "$1"
	ip -n "$NET" link set "$2" master br0 up
	ip -n "$1" addr add "$3/24" dev eth0
	ip -n "$1" addr add "$4/64" dev eth0 nodad
	ip -n "$1" link set eth0 up
}
start_manager() {
	local c flags=()
	for c in $CIDRS; do flags+=(--cluster-cidr "$c"); done
	ip netns exec "$NET" "$MANAGER" --state-dir "$T/mgr" --listen "$NET4.1:7443" "${flags[@]}" \
		>>"$LOGS/weft-manager-$$.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do
		ip netns exec "$NET" curl -s --cacert "$T/mgr/ca.crt" "$URL/v1/health" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
api() { # METHOD PATH [BODY] (as the admin)
	ip netns exec "$NET" curl -s --cacert "$T/mgr/ca.crt" -H "Authorization: Bearer $(cat "$T/mgr/admin.token")" \
		-X "$1" "$URL$2" ${3:+-d "$3"}
}
start_weftd() { # K [FLAGS...]
	local k=$1
	shift
	rm -f "$T/n$k.sock"
	ip netns exec "$NODE$k" "$WEFTD" --state-dir "$T/n$k" --socket "$T/n$k.sock" --backend userspace \
		--hub-name "wt$N-$k" --hub-port 51821 --manager "$URL" --manager-ca "$T/mgr/ca.crt" \
		--join-token-file "$T/join.token" --node-name "n$k" --endpoint "$NET4.1$k" --log-level verbose "$@" \
		>>"$LOGS/weft-weftd-$$-$k.log" 2>&1 &
	WPID[$k]=$!
	PIDS+=(${WPID[$k]})
	wait_socket "$T/n$k.sock"
}
