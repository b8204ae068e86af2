#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# weft-cni on this host, as a runtime drives it: VERSION, STATUS, GC, and
# every kind of bad input, each answered with a CNI error on stdout that
# names the problem, and nothing left behind. (Traffic through static mode
# needs kernel WireGuard: tests/vm/guest_cni.sh.)
. "$(dirname "$0")/lib.sh"

CNI=$ROOT/$BUILD/weft-cni
ip netns add "$NS1"
conf() { printf '{"cniVersion":"%s","name":"wg","type":"%s"%s}' "${2:-1.0.0}" "${3:-weft}" "$1"; }
plugin() { # COMMAND CONFIG [VAR=VALUE...]
	local cmd=$1 config=$2
	shift 2
	echo "$config" | env CNI_COMMAND="$cmd" CNI_CONTAINERID=ctr1 CNI_NETNS="/var/run/netns/$NS1" CNI_IFNAME=wg0 \
		CNI_PATH=/opt/cni/bin "$@" "$CNI"
}

out=$(plugin VERSION '{"cniVersion":"0.4.0"}')
check "VERSION lists 0.3.0 to 1.1.0 and echoes the asked version" has "$out" '"cniVersion":"0.4.0"' '"supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]'
out=$(plugin STATUS "$(conf ',"agentSocket":"/nonexistent/weftd.sock"' 1.1.0)" CNI_CONTAINERID= CNI_NETNS= CNI_IFNAME=)
check "STATUS: with neither kernel WireGuard nor the agent, code 50" has "$out" '"code":50'

check "GC with no agent and nothing recorded" plugin GC "$(conf ',"agentSocket":"/nonexistent/weftd.sock","agentStateDir":"/nonexistent","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]' 1.1.0)" CNI_CONTAINERID= CNI_NETNS= CNI_IFNAME=

K=$(wg genkey)
good=',"address":"10.13.13.2/24","privateKey":"'$K'","peers":[{"publicKey":"'$(wg genkey | wg pubkey)'","allowedIPs":["10.13.13.0/24"],"endpoint":"192.0.2.1:51820"}]'
out=$(plugin ADD "$(conf "$good")")
rc=$?
check "ADD without kernel WireGuard: code 11, pointing at the agent (rc $rc)" has "$out" '"code":11' 'weftd'
check "  nothing left in the container" sh -c "[ \$(ip -n $NS1 -o link | wc -l) = 1 ]"

bad() { # NAME EXPECTED-CODE NEEDLE CONFIG [VAR=VALUE...]
	local name=$1 code=$2 needle=$3 config=$4 out rc
	shift 4
	out=$(plugin ADD "$config" "$@")
	rc=$?
	check "$name: code $code, naming it" sh -c "[ $rc != 0 ] && echo \"\$0\" | grep -qF '\"code\":$code' && echo \"\$0\" | grep -qF -- '$needle'" "$out"
}
bad "malformed JSON" 6 "line " '{"cniVersion": "1.0.0",'
bad "not an object" 6 "JSON object" '[]'
bad "unsupported cniVersion" 1 '2.0.0' "$(conf "$good" 2.0.0)"
bad "0.2.0 is too old" 1 '0.2.0' "$(conf "$good" 0.2.0)"
bad "missing name" 7 'name' '{"cniVersion":"1.0.0","type":"weft"}'
bad "foreign type" 7 'type \"bridge\"' "$(conf "$good" 1.0.0 bridge)"
bad "unknown mode" 7 'mode: \"tunnel\"' "$(conf ',"mode":"tunnel"')"
bad "bad backend" 7 'backend' "$(conf ',"backend":"fpga"')"
bad "mtu too small" 7 'mtu' "$(conf ',"mtu":500')"
bad "ipMasq not a boolean" 7 'ipMasq: true or false, not a JSON string' "$(conf ',"mode":"mesh","ipMasq":"no"')"
bad "ipMasq in static mode" 7 'ipMasq: only modes' "$(conf "$good"',"ipMasq":false')"
bad "missing private key" 7 'privateKey or privateKeyFile' "$(conf ',"address":"10.1.1.1/24"')"
bad "both keys" 7 'give one, not both' "$(conf ',"address":"10.1.1.1/24","privateKey":"'$K'","privateKeyFile":"/x"')"
bad "unreadable key file" 7 'privateKeyFile: cannot read /nonexistent' "$(conf ',"address":"10.1.1.1/24","privateKeyFile":"/nonexistent"')"
bad "listen port" 7 'listenPort' "$(conf "$good"',"listenPort":70000')"
bad "peers not a list" 7 'peers: must be a list' "$(conf ',"address":"10.1.1.1/24","privateKey":"'$K'","peers":{}')"
bad "missing container ID" 4 'CNI_CONTAINERID' "$(conf "$good")" CNI_CONTAINERID=
bad "bad container ID" 4 'bad id' "$(conf "$good")" "CNI_CONTAINERID=bad id"
bad "missing netns for ADD" 4 'CNI_NETNS' "$(conf "$good")" CNI_NETNS=
bad "unknown command" 4 'FROB' "$(conf "$good")" CNI_COMMAND=FROB
out=$(plugin CHECK "$(conf "$good" 0.3.1)")
check "CHECK needs 0.4.0 or later" has "$out" '"code":1' 'CHECK'
out=$(plugin CHECK "$(conf "$good")")
check "CHECK needs a prevResult" has "$out" 'prevResult'
check "DEL of what was never added succeeds" plugin DEL "$(conf "$good")"
check "DEL without CNI_NETNS succeeds" plugin DEL "$(conf "$good")" CNI_NETNS=
check "nothing was created by any of it" sh -c "[ \$(ip -n $NS1 -o link | wc -l) = 1 ]"
finish
