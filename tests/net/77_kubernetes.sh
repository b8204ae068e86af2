#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Kubernetes manifests (deploy/kubernetes), with no Kubernetes here:
# every object validated against the real OpenAPI schemas (npm's
# kubernetes-models), a broken copy refused as a control; then the pods
# the manager's StatefulSet and weftd's DaemonSet would make on one node,
# played by `podman kube play` from the image (make image): the manager
# answers, weftd's init container installs the plugin and the conflist
# into the node's directories, weftd joins the manager, and a podman
# container on that conflist gets an address from it and answers the
# node. What differs from a real cluster is in docs/deploy-kubernetes.md
# (tests/tools/k8s-pod-of.js does the kubelet's part).
#
#   $NS1: the node's network, $HOST_IP on lo; podman plays the pods here
#     weft-manager-0 (hostNetwork) https://$HOST_IP:7443
#     weftd-node1 (hostNetwork, privileged), its host paths under $T/host
#     a podman container on the conflist weftd's init container wrote
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/image.sh"
image_setup weft-k8s node npm podman runc debootstrap
HOST_IP=10.77.$N.1
H=$T/host

# --- every object against the schemas ------------------------------------------------
export npm_config_cache=$T/npm-cache npm_config_logs_dir=$T/npm-logs npm_config_update_notifier=false
if ! timeout 300 npm install --silent --no-audit --no-fund --prefix "$T/npm" kubernetes-models@4.3.1 js-yaml@4.1.0 >"$T/npm.log" 2>&1; then
	if [ "${CI:-}" = true ]; then
		fail "npm install kubernetes-models js-yaml: $(tail -1 "$T/npm.log")"
	else
		skip "npm's registry is not reachable: $(tail -1 "$T/npm.log")"
	fi
	finish
	exit
fi
export NODE_PATH=$T/npm/node_modules
validate() { node "$ROOT/tests/tools/k8s-validate.js" "$@" >"$T/validate.out" 2>&1 || { cat "$T/validate.out"; return 1; }; }
for f in "$ROOT"/deploy/kubernetes/*.yaml; do
	check "$(basename "$f") is valid against Kubernetes' schemas" validate "$f"
done
sed 's/hostNetwork: true/hostNetwork: "yes"/' "$ROOT/deploy/kubernetes/weftd.yaml" >"$T/broken.yaml"
check "  a copy with hostNetwork: \"yes\" is refused (the check can fail)" sh -c "! node '$ROOT/tests/tools/k8s-validate.js' '$T/broken.yaml'"
rbac=$(grep -l -E '^kind: (Cluster)?Role(Binding)?$' "$ROOT"/deploy/kubernetes/*.yaml | wc -l)
check "no RBAC: weft uses no Kubernetes API ($rbac role files), no token mounted" sh -c \
	"[ $rbac = 0 ] && [ \$(grep -c 'automountServiceAccountToken: false' $ROOT/deploy/kubernetes/weftd.yaml) = 2 ]"

# --- the pods played with podman -----------------------------------------------------
image_conf "$H/opt/cni/bin" "$H/etc/cni/net.d"
check "make image (localhost/weft, offline)" sh -c "cd '$ROOT' && make image PODMAN='$PODMAN' >'$T/make.log' 2>&1"
ip netns add "$NS1"
ip -n "$NS1" link set lo up
ip -n "$NS1" addr add "$HOST_IP/32" dev lo
mkdir -p "$H"/{var/lib/weft,run/weft,opt/cni/bin,etc/cni/net.d,manager-state,lib/modules} "$T"/secrets/{weft-ca,weft-manager-ca,weft-join-token}
# The admin's part (docs/deploy-kubernetes.md): a CA for the manager, its
# certificate alone for the nodes.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=weft-test-ca \
	-keyout "$T/secrets/weft-manager-ca/ca.key" -out "$T/secrets/weft-manager-ca/ca.crt" >/dev/null 2>&1
cp "$T/secrets/weft-manager-ca/ca.crt" "$T/secrets/weft-ca/ca.crt"
settings() { # POD-NAME
	cat <<JSON
{"name": "$1", "fields": {"spec.nodeName": "node1", "status.hostIP": "$HOST_IP"},
 "hostPaths": {"/var/lib/weft": "$H/var/lib/weft", "/run/weft": "$H/run/weft", "/run/netns": "/run/netns",
  "/lib/modules": "$H/lib/modules", "/opt/cni/bin": "$H/opt/cni/bin", "/etc/cni/net.d": "$H/etc/cni/net.d"},
 "secrets": {"weft-ca": "$T/secrets/weft-ca", "weft-manager-ca": "$T/secrets/weft-manager-ca",
  "weft-join-token": "$T/secrets/weft-join-token"},
 "claims": {"state": "$H/manager-state"}}
JSON
}
settings weft-manager-0 >"$T/manager.json"
settings weftd-node1 >"$T/weftd.json"
pod_of() { node "$ROOT/tests/tools/k8s-pod-of.js" "$@"; }
check "the manager's pod, from its StatefulSet" sh -c \
	"node '$ROOT/tests/tools/k8s-pod-of.js' '$ROOT/deploy/kubernetes/manager.yaml' StatefulSet weft-manager '$T/manager.json' >'$T/manager-pod.yaml'"
check "  played by podman kube play" sh -c "$P kube play '$T/manager-pod.yaml' >'$T/play-manager.log' 2>&1"
health() {
	for _ in $(seq 150); do
		ip netns exec "$NS1" curl -sf --cacert "$T/secrets/weft-ca/ca.crt" "https://$HOST_IP:7443/v1/health" 2>/dev/null |
			grep -q '"status":"ok"' && return 0
		sleep 0.2
	done
	$PODMAN logs weft-manager-0-weft-manager 2>&1 | tail -5
	return 1
}
check "  answers on the node's address, its certificate signed by the admin's CA" health
admin=$(cat "$H/manager-state/admin.token" 2>/dev/null)
ip netns exec "$NS1" curl -sf --cacert "$T/secrets/weft-ca/ca.crt" -H "Authorization: Bearer $admin" \
	-X POST "https://$HOST_IP:7443/v1/tokens" -d '{"ttl":3600}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$T/secrets/weft-join-token/token"
check "  a join token made with the admin token, into the Secret's stand-in" test -s "$T/secrets/weft-join-token/token"
# The admin's edit of the ConfigMap: the manager's address; and, only here,
# the plugin told where weftd's socket is (the test's, not /run/weft).
sed -e "s|https://192.0.2.10:7443|https://$HOST_IP:7443|" \
	-e "s|{\"type\": \"weft\", \"mode\": \"mesh\"}|{\"type\": \"weft\", \"mode\": \"mesh\", \"agentSocket\": \"$H/run/weft/weftd.sock\"}|" \
	"$ROOT/deploy/kubernetes/config.yaml" >"$T/config.yaml"
check "weftd's pod, from its DaemonSet" sh -c \
	"node '$ROOT/tests/tools/k8s-pod-of.js' '$ROOT/deploy/kubernetes/weftd.yaml' DaemonSet weftd '$T/weftd.json' >'$T/weftd-pod.yaml'"
check "  played by podman kube play, with the ConfigMap" sh -c \
	"$P kube play --configmap '$T/config.yaml' '$T/weftd-pod.yaml' >'$T/play-weftd.log' 2>&1"
check "  its init container installed weft-cni as weft and wg-cni" sh -c \
	"[ -x '$H/opt/cni/bin/weft' ] && [ \"\$(readlink '$H/opt/cni/bin/wg-cni')\" = weft ] && '$H/opt/cni/bin/weft' </dev/null 2>&1 | grep -q CNI"
check "  and the conflist" sh -c "grep -q '\"type\": \"portmap\"' '$H/etc/cni/net.d/10-weft.conflist'"
check "  weftd serves on its socket" wait_socket "$H/run/weft/weftd.sock"
joined() {
	for _ in $(seq 150); do
		ip netns exec "$NS1" curl -sf --cacert "$T/secrets/weft-ca/ca.crt" -H "Authorization: Bearer $admin" \
			"https://$HOST_IP:7443/v1/nodes/node1" 2>/dev/null | grep '"subnets"' | grep -q "\"$HOST_IP:" && return 0
		sleep 0.2
	done
	$PODMAN logs weftd-node1-weftd 2>&1 | tail -5
	return 1
}
check "  and joined the manager as node1, with the node's address as its endpoint" joined
check "  its state on the node's /var/lib/weft (keys 0600)" sh -c "[ \$(stat -c %a '$H/var/lib/weft/keys/hub.key') = 600 ]"
cp /bin/busybox "$T/busybox" 2>/dev/null
mkdir -p "$T/rootfs/bin"
cp /bin/busybox "$T/rootfs/bin/" && for l in sh ip sleep; do ln -sf busybox "$T/rootfs/bin/$l"; done
$PODMAN import - localhost/weft-k8s-bb < <(tar -C "$T/rootfs" -c .) >/dev/null 2>&1
check "a podman container on the conflist weftd's init container wrote" \
	$P run -d --name c1 --network weft --ulimit host localhost/weft-k8s-bb sleep 600
addr=$($PODMAN inspect c1 --format '{{(index .NetworkSettings.Networks "weft").IPAddress}}' 2>/dev/null)
check "  gets an address in node1's pod subnet ($addr)" sh -c "echo '$addr' | grep -q '^10\.244\.'"
check "  and answers the node" ip netns exec "$NS1" ping -c 2 -W 3 "$addr"
$P rm -f -t 0 c1 >/dev/null 2>&1
check "podman rm: weftd let the pod and its address go" none "${addr:-no address}" \
	ip netns exec "$NS1" "$ROOT/$BUILD/weft" pods --socket "$H/run/weft/weftd.sock"
finish
