#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Docker (docker.io 20.10) runs containers on weft networks: weftd
# --docker-plugin serves libnetwork's network and IPAM driver API, each
# node's own dockerd finds it by its socket in /run/docker/plugins, and
# containers on two nodes of a cluster reach each other in both modes:
# mesh (a veth) and hub (the container's own WireGuard interface, with its
# own key). Then: Docker's refusals, bad requests, weftd killed and
# restarted with containers running, and nothing left after rm.
#
#   $NET: bridge br0 192.168.77.1/24, weft-manager on :7443
#     ├─ ${NODE}1 eth0 .11: weftd n1 (plugin weft-t$$-1), dockerd: c1 c1b (mesh), h1 (hub)
#     └─ ${NODE}2 eth0 .12: weftd n2 (plugin weft-t$$-2), dockerd: c2 (mesh), h2 (hub)
. "$(dirname "$0")/lib.sh"

MANAGER=$ROOT/$BUILD/weft-manager
WEFTD=$ROOT/$BUILD/weftd
WEFT=$ROOT/$BUILD/weft
T=$(mktemp -d /tmp/weft-docker.XXXXXX)
NET=weft-t$$-net
NODE=weft-t$$-n
URL=https://192.168.77.1:7443
PLUGIN=weft-t$$- # the driver's name on node K: ${PLUGIN}K
declare -A WPID DPID

D() { # K ARGS...: node K's docker
	local k=$1
	shift
	docker -H "unix://$T/d$k/docker.sock" "$@"
}
stop_docker() { # K
	[ -n "${DPID[$1]:-}" ] || return 0
	D "$1" rm -f $(D "$1" ps -aq 2>/dev/null) >/dev/null 2>&1
	kill "${DPID[$1]}" 2>/dev/null
	for _ in $(seq 100); do kill -0 "${DPID[$1]}" 2>/dev/null || break; sleep 0.1; done
	kill -9 "${DPID[$1]}" 2>/dev/null
	DPID[$1]=
}
cleanup_more() {
	local ns
	for k in 1 2; do stop_docker $k; done
	for ns in $(ip netns list | awk '{print $1}' | grep "^weft-t$$-"); do ns_del "$ns"; done
	cleanup
	rm -f /run/docker/plugins/${PLUGIN}1.sock /run/docker/plugins/${PLUGIN}2.sock
	rm -rf "$T"
}
trap cleanup_more EXIT
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
	skip "docker.io is not installed (scripts/install-deps installs it)"
	finish
	exit
fi

ip netns add "$NET"
ip -n "$NET" link set lo up
ip -n "$NET" link add br0 address 02:77:65:66:74:02 type bridge
ip -n "$NET" addr add 192.168.77.1/24 dev br0
ip -n "$NET" addr add fd77::1/64 dev br0 nodad
ip -n "$NET" link set br0 up
ip netns exec "$NET" "$MANAGER" --state-dir "$T/mgr" --listen 192.168.77.1:7443 \
	--cluster-cidr 10.78.0.0/16 --cluster-cidr fd78::/48 >>"$LOGS/weft-manager-$$.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
	ip netns exec "$NET" curl -s --cacert "$T/mgr/ca.crt" "$URL/v1/health" >/dev/null 2>&1 && break
	sleep 0.1
done
ip netns exec "$NET" curl -s --cacert "$T/mgr/ca.crt" -H "Authorization: Bearer $(cat "$T/mgr/admin.token")" \
	-X POST "$URL/v1/tokens" -d '{"ttl":3600}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' \
	>"$T/join.token"

start_weftd() { # K
	local k=$1
	ip netns exec "$NODE$k" "$WEFTD" --state-dir "$T/n$k" --socket "$T/n$k.sock" --backend userspace \
		--hub-name "wt$N-$k" --hub-port 51821 --manager "$URL" --manager-ca "$T/mgr/ca.crt" \
		--join-token-file "$T/join.token" --node-name "n$k" --endpoint "192.168.77.1$k" --log-level verbose \
		--docker-plugin --docker-socket "/run/docker/plugins/$PLUGIN$k.sock" >>"$LOGS/weft-weftd-$$-$k.log" 2>&1 &
	WPID[$k]=$!
	PIDS+=(${WPID[$k]})
	wait_socket "$T/n$k.sock" && wait_socket "/run/docker/plugins/$PLUGIN$k.sock"
}
start_docker() { # K: a private dockerd in the node's namespace (nsenter: runc needs the host's /sys)
	local k=$1
	mkdir -p "$T/d$k"
	nsenter --net="/run/netns/$NODE$k" dockerd --data-root "$T/d$k/data" --exec-root "$T/d$k/exec" \
		-H "unix://$T/d$k/docker.sock" --pidfile "$T/d$k/docker.pid" --iptables=false --ip6tables=false \
		--bridge=none --storage-driver vfs --log-level warn >>"$LOGS/weft-dockerd-$$-$k.log" 2>&1 &
	DPID[$k]=$!
	for _ in $(seq 300); do D "$k" info >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}
for k in 1 2; do
	ip netns add "$NODE$k"
	ip -n "$NODE$k" link set lo up
	ip -n "$NET" link add "v$k" type veth peer name eth0 netns "$NODE$k"
	ip -n "$NET" link set "v$k" master br0 up
	ip -n "$NODE$k" addr add "192.168.77.1$k/24" dev eth0
	ip -n "$NODE$k" addr add "fd77::1$k/64" dev eth0 nodad
	ip -n "$NODE$k" link set eth0 up
	check "node $k: weftd joins the cluster and serves the Docker plugin" start_weftd $k
	check "  its own dockerd starts" start_docker $k
done
mkdir -p "$T/rootfs/bin"
cp /bin/busybox "$T/rootfs/bin/"
for l in sh ip ping sleep cat; do ln -s busybox "$T/rootfs/bin/$l"; done
for k in 1 2; do tar -C "$T/rootfs" -c . | D $k import - weft-bb >/dev/null; done
sub() { # K FAMILY: the node's pod subnet, as the manager gave it
	python3 -c 'import json,sys; print(json.load(sys.stdin)["node"]["subnets"][int(sys.argv[1])])' "$2" \
		< <(ip netns exec "$NODE$1" "$WEFT" status --json --socket "$T/n$1.sock") 2>/dev/null
}
SUB1=$(sub 1 0)
SUB2=$(sub 2 0)
run() { # K NAME NETWORK [ARGS...]
	local k=$1 name=$2 net=$3
	shift 3
	D "$k" run -d --name "$name" --network "$net" "$@" weft-bb sleep 600
}
ip_of() { D "$1" inspect "$2" -f "{{(index .NetworkSettings.Networks \"$3\").IPAddress}}"; }
ip6_of() { D "$1" inspect "$2" -f "{{(index .NetworkSettings.Networks \"$3\").GlobalIPv6Address}}"; }
cx() { local k=$1 c=$2; shift 2; D "$k" exec "$c" "$@"; }

# --- mesh, across nodes ----------------------------------------------------------
for k in 1 2; do
	check "node $k: docker network create -d $PLUGIN$k --ipam-driver $PLUGIN$k --ipv6 (mesh)" \
		D $k network create -d "$PLUGIN$k" --ipam-driver "$PLUGIN$k" --ipv6 wmesh
done
check "node 1: docker run on it" run 1 c1 wmesh
check "node 2: docker run on it" run 2 c2 wmesh
check "node 1: a second container" run 1 c1b wmesh
C1=$(ip_of 1 c1 wmesh)
C2=$(ip_of 2 c2 wmesh)
C2_6=$(ip6_of 2 c2 wmesh)
in_subnet() { python3 -c 'import ipaddress, sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network(sys.argv[2]))' "$1" "$2"; }
in_own_subnets() { in_subnet "$C1" "$SUB1" && in_subnet "$C2" "$SUB2"; }
check "  the addresses come from each node's pod subnet ($C1 in $SUB1, $C2 in $SUB2)" in_own_subnets
check "  eth0 is a veth with the MAC Docker shows" same "$(cx 1 c1 cat /sys/class/net/eth0/address)" \
	"$(D 1 inspect c1 -f '{{.NetworkSettings.Networks.wmesh.MacAddress}}')"
check "c1 (node 1) reaches c2 (node 2) over IPv4" cx 1 c1 ping -c 2 -W 3 "$C2"
check "  and over IPv6 ($C2_6)" cx 1 c1 ping -6 -c 2 -W 3 "$C2_6"
check "  and c1b on its own node" cx 1 c1 ping -c 2 -W 3 "$(ip_of 1 c1b wmesh)"

# --- hub, across nodes ----------------------------------------------------------
for k in 1 2; do
	check "node $k: a hub network (-o mode=hub)" D $k network create -d "$PLUGIN$k" --ipam-driver "$PLUGIN$k" -o mode=hub whub
done
check "node 1: docker run on it" run 1 h1 whub
check "node 2: docker run on it" run 2 h2 whub
check "  the container's eth0 is its own WireGuard interface (a TUN here)" sh -c "docker -H unix://$T/d1/docker.sock exec h1 ip link show eth0 | grep -q POINTOPOINT"
check "  with a key of its own, kept on the node (0600)" sh -c "[ \$(ls $T/n1/keys | grep -c '@docker.key') = 1 ] && [ \$(stat -c %a $T/n1/keys/*@docker.key) = 600 ]"
H2=$(ip_of 2 h2 whub)
# A hub container's first handshake can be lost while Docker moves its
# interface into the container (seen under load: twice in about 30 runs);
# WireGuard retries it after REKEY_TIMEOUT, 5 s. So these pings may take
# up to 12 s for one reply: reachability is asserted, not latency.
check "h1 (node 1) reaches h2 (node 2) through both hubs" cx 1 h1 ping -c 1 -w 12 "$H2"
check "  and c2, a mesh container on node 2" cx 1 h1 ping -c 2 -W 3 "$C2"
check "  c2 reaches h1" cx 2 c2 ping -c 2 -W 3 "$(ip_of 1 h1 whub)"
pods=$(ip netns exec "${NODE}1" "$WEFT" pods --socket "$T/n1.sock")
check "weft pods on node 1 lists its three containers, as Docker endpoints" \
	sh -c "[ \$(echo '$pods' | tail -n +2 | grep -c docker) = 3 ]"

# --- what Docker is refused, and why ----------------------------------------------
out=$(D 1 network create -d "${PLUGIN}1" --ipam-driver "${PLUGIN}1" --subnet 10.99.0.0/24 wbad 2>&1)
check "a --subnet outside the node's pod subnet is refused, naming both" has "$out" 10.99.0.0/24 "$SUB1"
out=$(D 1 network create -d "${PLUGIN}1" --ipam-driver "${PLUGIN}1" -o mode=tunnel wbad 2>&1)
check "  -o mode=tunnel is refused, naming it" has "$out" "mode=tunnel"
out=$(D 1 network create -d "${PLUGIN}1" wbad 2>&1)
check "  a weft network with Docker's default IPAM is refused: use --ipam-driver" has "$out" "--ipam-driver"
check "  and none of them was made" none wbad D 1 network ls
check "--subnet the node's own pod subnet ($SUB1), and --ip in it" \
	D 1 network create -d "${PLUGIN}1" --ipam-driver "${PLUGIN}1" --subnet "$SUB1" wsub
want=$(echo "$SUB1" | cut -d. -f1-3).200
check "  docker run --ip $want gets it" sh -c "docker -H unix://$T/d1/docker.sock run -d --name s1 --network wsub --ip $want weft-bb sleep 600 && [ \"\$(docker -H unix://$T/d1/docker.sock inspect s1 -f '{{.NetworkSettings.Networks.wsub.IPAddress}}')\" = $want ]"
out=$(D 1 run -d --name s2 --network wsub --ip "$want" weft-bb sleep 600 2>&1)
check "  the same --ip again is refused: in use" has "$out" "$want" "in use"
D 1 rm -f s2 >/dev/null 2>&1
check "  s1 reaches c2 on node 2" cx 1 s1 ping -c 2 -W 3 "$C2"
half=$(echo "$SUB1" | cut -d. -f1-3).128/25
check "--subnet a part of it ($half): its containers' addresses come from that part" sh -c "docker -H unix://$T/d1/docker.sock network create -d ${PLUGIN}1 --ipam-driver ${PLUGIN}1 --subnet $half whalf >/dev/null && docker -H unix://$T/d1/docker.sock run -d --name s3 --network whalf weft-bb sleep 600 >/dev/null && docker -H unix://$T/d1/docker.sock inspect s3 -f '{{.NetworkSettings.Networks.whalf.IPAddress}}' | grep -Eq '\.(12[89]|1[3-9][0-9]|2[0-5][0-9])\$'"
check "  and reach c2 on node 2" cx 1 s3 ping -c 2 -W 3 "$C2"

# Requests as Docker sends them, but wrong: an error naming the problem, and
# nothing changed.
call() { # K PATH BODY
	ip netns exec "$NODE$1" curl -s --unix-socket "/run/docker/plugins/$PLUGIN$1.sock" -X POST "http://plugin$2" -d "$3"
}
# state_of: a digest of node 1's state directory; nothing if it cannot be listed
# (md5sum of an empty listing is a digest like any other).
state_of() { local l; l=$(ls -R "$T/n1") && echo "$l" | md5sum; }
before=$(state_of)
out=$(call 1 /NetworkDriver.CreateNetwork '{"NetworkID": "abc", ')
check "bad JSON gets {\"Err\": ...} with where it broke" has "$out" '"Err":' 'not JSON' 'column'
id64=$(printf 'ab%.0s' $(seq 32))
out=$(call 1 /NetworkDriver.Join '{"NetworkID":"'$id64'","EndpointID":"'$id64'","SandboxKey":"/var/run/docker/netns/x"}')
check "a Join on an unknown network gets an Err naming it" has "$out" '"Err":' "${id64:0:12}" "docker network rm"
out=$(call 1 /IpamDriver.RequestAddress '{"PoolID":"weft4","Address":"10.1.2.3.4","Options":null}')
check "a bad address gets an Err naming it" has "$out" '"Err":' '10.1.2.3.4'
out=$(call 1 /NetworkDriver.Frobnicate '{}')
check "an unknown call gets an Err naming it" has "$out" '"Err":' 'Frobnicate'
check "  and the node's state is as it was" same "$before" "$(state_of)"

# --- weftd killed with containers running -------------------------------------------
kill -9 "${WPID[1]}"
wait "${WPID[1]}" 2>/dev/null
# The node's userspace WireGuard device lives in weftd and goes with it;
# the veths and routes are the kernel's.
check "weftd on node 1 killed (-9): mesh containers on the node still reach each other" \
	cx 1 c1 ping -c 2 -W 3 "$(ip_of 1 c1b wmesh)"
check "  weftd restarted" start_weftd 1
check "  the mesh container reaches node 2 again" cx 1 c1 ping -c 2 -W 5 "$C2"
check "  the hub container reaches node 2 again (its device rebuilt)" cx 1 h1 ping -c 1 -w 12 "$H2"
check "  and node 2's hub container reaches it" cx 2 h2 ping -c 1 -w 12 "$(ip_of 1 h1 whub)"
check "  Docker uses the plugin again: a new container" run 1 c1c wmesh
check "  which reaches c2" cx 1 c1c ping -c 2 -W 3 "$C2"

# --- rm: nothing left ----------------------------------------------------------------
for k in 1 2; do
	D $k rm -f $(D $k ps -aq) >/dev/null
	D $k network rm wmesh whub >/dev/null
done
D 1 network rm wsub whalf >/dev/null
for k in 1 2; do
	check "node $k: after docker rm and network rm, no veth or container interface left" \
		none 'weft[0-9a-f]{8}|wfc' ip -n "$NODE$k" -o link
	check "  no attachment, no Docker network record" none . find "$T/n$k/attachments" "$T/n$k/docker/networks" -type f
	check "  no address held" none '^(10|fd)' ls "$T/n$k/ipam/4" "$T/n$k/ipam/6"
	check "  no container key left" none @ ls "$T/n$k/keys"
done
for k in 1 2; do stop_docker $k; done
finish
