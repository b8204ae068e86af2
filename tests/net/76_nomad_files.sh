#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Nomad files weft ships (deploy/nomad, docs/deploy-nomad.md), checked
# without Nomad, which is not in Debian:
#
# 1. Every .hcl parses as HCL2 (npm's @cdktf/hcl2json, HashiCorp's hcl library
#    built to WebAssembly, installed into $DIR for the test) and says what the
#    docs say: weft-manager a service job and weftd a system job, both the
#    packaged binaries under raw_exec; weftd's settings rendered from the
#    client's name and address, the manager's service and the job's Nomad
#    variable, the join token only ever from that variable; the manager's
#    state on the host, outside the allocation; the example on cni/weft; the
#    client's CNI paths. A broken copy must fail to parse, and a copy with a
#    token written into it must fail the token check.
# 2. weftd as weftd.hcl runs it: its templates rendered as Nomad renders them
#    (the node's name and address, a weft-manager as the service, a join
#    token and the CA in the job's variable), weftd started on the rendered
#    settings joins the manager; then the shipped weft.conflist, unchanged,
#    driven as Nomad drives it (tests/tools/nomad-cni, see 74_nomad.sh) for
#    the example's network. Without the parser, weftd runs alone on flags.
#
#   ┌ $NS1: the node, weftd with a mount namespace of its own ─────────────────┐
#   │ /run/weft, /run/wireguard: tmpfs, so weftd's socket is where the        │
#   │   conflist expects it and nothing of it lands in the host's             │
#   │ under0 10.99.$N.1 (the node's address, weftd's endpoint)                │
#   │ weft-manager 127.0.0.1:$MPORT, cluster 10.76.0.0/16, fd76::/48          │
#   │ weftd (node weft-t$$-n1): a pod subnet from the manager                 │
#   │  weftXXXXXXXX ◄─veth─► a1: eth0   job sleep, group sleep                 │
#   │  weftXXXXXXXX ◄─veth─► a2: eth0   (weft, then portmap, on each)          │
#   └──────────────────────────────────────────────────────────────────────────┘
#   allocation namespaces weft-t$$-a1, a2; everything else in $DIR
. "$(dirname "$0")/lib.sh"

FILES=$ROOT/deploy/nomad
WEFTD=$ROOT/$BUILD/weftd
WEFT=$ROOT/$BUILD/weft
DRIVER=$ROOT/tests/tools/nomad-cni
DIR=/tmp/weft-t$$-nomad
MADE=()
cleanup_more() {
	ns_del "weft-t$$-a1"
	ns_del "weft-t$$-a2"
	cleanup
	# Only what this test made, and only if nothing else put anything in it.
	for d in "${MADE[@]}"; do rmdir "$d" 2>/dev/null; done
	rm -rf "$DIR"
}
trap cleanup_more EXIT
mkdir -p "$DIR/json"

# --- 1. The job and client files --------------------------------------------
# parse FILE OUT: HCL to JSON as hcl2json gives it (a block is a list of its
# bodies, keyed by its labels); the parser's message on failure.
parse() {
	node -e '
		const { parse } = require(process.argv[1]);
		const fs = require("fs");
		parse(process.argv[2], fs.readFileSync(process.argv[2], "utf8"))
			.then((j) => fs.writeFileSync(process.argv[3], JSON.stringify(j)))
			.catch((e) => { console.log(String(e.message || e)); process.exit(1); });
	' "$DIR/npm/node_modules/@cdktf/hcl2json" "$1" "$2"
}
parse_fails() { ! parse "$1" "$1.json"; }
# q FILE EXPR: the python expression EXPR is true of j, FILE's JSON; qp FILE
# EXPR prints its value. The helpers are in q.py.
q() { python3 "$DIR/q.py" "$1" "$2"; }
qp() { python3 "$DIR/q.py" "$1" "$2" print; }
cat >"$DIR/q.py" <<'EOF'
import json, os, re, sys
def one(x):
    """The single body of a block."""
    assert isinstance(x, list) and len(x) == 1, x
    return x[0]
def tasks(j):
    """(job, group, task) for every task of every job."""
    for job in j["job"].values():
        for gs in one(job)["group"].values():
            for ts in one(gs)["task"].values():
                yield one(job), one(gs), one(ts)
def tpl(task, dest):
    """The task's template rendered to DEST."""
    return one([t for t in task.get("template", []) if t["destination"] == dest])
def fill(data, env, var, services):
    """A template's data as Nomad renders it, for the constructs weftd.hcl
    uses: env, nomadVar's items, and a range over nomadService's instances."""
    def item(m):
        return var[m.group(1)][m.group(2)]
    out = re.sub(r'\{\{-? *with nomadVar "([^"]+)" *\}\}\{\{ *\.(\w+) *\}\}\{\{ *end *\}\}', item, data)
    out = re.sub(r'\{\{ *range [^\n]*nomadService "([^"]+)" *\}\}[^\n]*\{\{ *end *\}\}',
                 lambda m: ",".join(f"https://{a}:{p}" for a, p in services[m.group(1)]), out)
    out = re.sub(r'\{\{ *env "([^"]+)" *\}\}', lambda m: env[m.group(1)], out)
    assert "{{" not in out, out
    return out
def render(data):
    """weftd.json's template as Nomad renders it on a client named n1 at
    192.0.2.11, with the manager's service at 192.0.2.10:7443: True if the
    settings are what they should be, else the settings."""
    env = {"node.unique.name": "n1", "attr.unique.network.ip-address": "192.0.2.11",
           "NOMAD_TASK_DIR": "/alloc/t/local", "NOMAD_SECRETS_DIR": "/alloc/t/secrets"}
    s = json.loads(fill(data, env, {}, {"weft-manager": [("192.0.2.10", 7443)]}))
    # weftd's keys (lib/agent/config.c): an unknown one stops it.
    known = {"stateDir", "socket", "podSubnet", "podSubnet6", "backend", "hubName", "hubPort", "logLevel",
             "manager", "managerCA", "joinTokenFile", "nodeName", "endpoint", "metricsListen", "gateway",
             "gatewayDevice", "gatewayPort", "dockerPlugin", "dockerSocket", "ipMasq"}
    assert set(s) <= known, set(s) - known
    return s == {"nodeName": "n1", "endpoint": "192.0.2.11", "manager": "https://192.0.2.10:7443",
                 "managerCA": "/alloc/t/local/manager-ca.crt", "joinTokenFile": "/alloc/t/secrets/join.token",
                 "stateDir": "/var/lib/weft", "socket": "/run/weft/weftd.sock", "logLevel": "info"} or s
def materialize(task, env, var, services):
    """Every template of the task written where Nomad writes it (local/ in
    NOMAD_TASK_DIR, secrets/ in NOMAD_SECRETS_DIR), with its perms."""
    dirs = {"local": env["NOMAD_TASK_DIR"], "secrets": env["NOMAD_SECRETS_DIR"]}
    for t in task["template"]:
        top, rest = t["destination"].split("/", 1)
        path = os.path.join(dirs[top], rest)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(fill(t["data"], env, var, services))
        os.chmod(path, int(t.get("perms", "0644"), 8))
    return True
if __name__ == "__main__":
    j = json.load(open(sys.argv[1]))
    v = eval("(" + sys.argv[2] + "\n)")  # one expression, over several lines
    print(v)
    if sys.argv[3:] != ["print"]:
        sys.exit(0 if v is True else 1)
EOF

hcl_ok=0
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	if [ "${CI:-}" = true ]; then
		fail "node and npm for the HCL parser (scripts/install-deps installs them)"
	else
		skip "the HCL checks: no node or npm here"
	fi
# The parser's version is pinned: its JSON's shape is what the checks read.
# npm's cache and logs go in $DIR too, so the test leaves nothing behind.
elif ! timeout 300 npm install --prefix "$DIR/npm" --cache "$DIR/npm-cache" --no-audit --no-fund \
	--loglevel=error @cdktf/hcl2json@0.21 >"$DIR/npm.log" 2>&1; then
	if [ "${CI:-}" = true ]; then
		fail "npm install @cdktf/hcl2json (the HCL parser): $(grep -m1 -i error "$DIR/npm.log")"
	else
		skip "the HCL checks: npm could not install @cdktf/hcl2json (no registry?): $(grep -m1 -i error "$DIR/npm.log")"
	fi
else
	hcl_ok=1
fi

if [ "$hcl_ok" = 1 ]; then
	for f in "$FILES"/*.hcl; do
		check "deploy/nomad/$(basename "$f") parses as HCL2" parse "$f" "$DIR/json/$(basename "$f" .hcl).json"
	done
	M=$DIR/json/weft-manager.json W=$DIR/json/weftd.json S=$DIR/json/sleep.json
	C=$DIR/json/client.json V=$DIR/json/manager-volume.json
	sed '$d' "$FILES/weftd.hcl" >"$DIR/broken.hcl" # the job's closing brace gone
	check "  (a copy of weftd.hcl without its last closing brace does not)" parse_fails "$DIR/broken.hcl"

	check "weft-manager.hcl: a service job, its task raw_exec running /usr/sbin/weft-manager" \
		q "$M" 'all(jb["type"] == "service" and t["driver"] == "raw_exec" and
			one(t["config"])["command"] == "/usr/sbin/weft-manager" for jb, g, t in tasks(j))'
	# Its --state-dir: a path on the host, not one of the allocation's
	# directories (NOMAD_*_DIR), which Nomad deletes with the allocation.
	STATE_DIR=$(qp "$M" 'next(a[a.index("--state-dir") + 1] for _, _, t in tasks(j) for a in [one(t["config"])["args"]])' 2>&1)
	check "  its state in $STATE_DIR: on the host, not in the allocation" grep -qxE '/[^$]+' <<<"$STATE_DIR"
	check "  the group claims host volume weft-manager, which manager-volume.hcl puts at that path" \
		q "$V" 'one(one(j["client"])["host_volume"]["weft-manager"])["path"] == "'"$STATE_DIR"'" and
			all(one(g["volume"]["state"]) == {"type": "host", "source": "weft-manager", "read_only": False}
			for _, g, _ in tasks(json.load(open("'"$M"'"))))'
	check "  registered as Nomad service weft-manager, which weftd's settings look up" \
		q "$M" 'all(one(g["service"])["name"] == "weft-manager" and one(g["service"])["provider"] == "nomad"
			for _, g, _ in tasks(j))'
	check "  its certificate names the client's address (the service's, which weftd dials)" \
		q "$M" '"IP:${attr.unique.network.ip-address}" in next(one(t["config"])["args"] for _, _, t in tasks(j))'

	check "weftd.hcl: a system job (every client), raw_exec running /usr/sbin/weftd --config its template" \
		q "$W" 'all(jb["type"] == "system" and t["driver"] == "raw_exec" and
			one(t["config"])["command"] == "/usr/sbin/weftd" and
			one(t["config"])["args"] == ["--config", "${NOMAD_TASK_DIR}/weftd.json"] and
			tpl(t, "local/weftd.json") for jb, g, t in tasks(j))'
	check "  weftd.json renders to settings weftd reads: node name, endpoint, manager, CA, token file, /run/weft/weftd.sock" \
		q "$W" 'all(render(tpl(t, "local/weftd.json")["data"]) is True for _, _, t in tasks(j))'
	check "  the join token: a 0600 secrets file from the job's Nomad variable, read once (no restart)" \
		q "$W" 'all(tpl(t, "secrets/join.token")["perms"] == "0600" and tpl(t, "secrets/join.token")["change_mode"] == "noop" and
			"nomadVar \"nomad/jobs/weftd\"" in tpl(t, "secrets/join.token")["data"] and
			".join_token" in tpl(t, "secrets/join.token")["data"] for _, _, t in tasks(j))'
	check "  the manager's CA from the same variable" \
		q "$W" 'all("nomadVar \"nomad/jobs/weftd\"" in tpl(t, "local/manager-ca.crt")["data"] for _, _, t in tasks(j))'
	# No token of any kind written into a job (weftj1:, wefta1:, weftn1:,
	# weftr1:), and join_token read by no template but the secrets file's.
	no_token() {
		! grep -qE 'weft[ajnr]1:' "$1" &&
			q "$1" 'all(all(tp["destination"] == "secrets/join.token" for tp in t.get("template", [])
				if "join_token" in tp["data"]) and "join_token" not in json.dumps(one(t["config"]))
				for _, _, t in tasks(j))'
	}
	each() { local f=$1 x; shift; for x; do "$f" "$x" || return 1; done; }
	check "  no token in the job files; join_token used only by the secrets template" each no_token "$W" "$M" "$S"
	sed 's|{{ .join_token }}|weftj1:0123:abcdef|' "$FILES/weftd.hcl" >"$DIR/leaky.hcl"
	parse "$DIR/leaky.hcl" "$DIR/leaky.json" >/dev/null
	leaks() { [ -s "$1" ] && ! no_token "$1"; }
	check "  (a copy with a token written into its template fails that check)" leaks "$DIR/leaky.json"

	check "sleep.hcl: network mode cni/weft, the name of the shipped conflist" \
		q "$S" 'all(one(g["network"])["mode"] == "cni/" + json.load(open("'"$FILES/weft.conflist"'"))["name"]
			for _, g, _ in tasks(j))'
	check "  a busybox sleep under docker" \
		q "$S" 'all(t["driver"] == "docker" and one(t["config"])["image"].startswith("busybox") for _, _, t in tasks(j))'
	check "client.hcl: cni_path /usr/lib/cni (the package's weft, the reference plugins), cni_config_dir /etc/cni/net.d, raw_exec enabled" \
		q "$C" 'one(j["client"])["cni_path"] == "/usr/lib/cni" and one(j["client"])["cni_config_dir"] == "/etc/cni/net.d" and
			one(one(j["plugin"]["raw_exec"])["config"])["enabled"] is True'
fi
check "weft.conflist: cniVersion 1.0.0, name weft, plugins weft (mesh or hub) then portmap with portMappings" \
	python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); p = c["plugins"]
assert c["cniVersion"] == "1.0.0" and c["name"] == "weft", c
assert [x["type"] for x in p] == ["weft", "portmap"] and p[0]["mode"] in ("mesh", "hub"), p
assert p[1]["capabilities"] == {"portMappings": True}, p' "$FILES/weft.conflist"

# --- 2. weftd as weftd.hcl runs it, the conflist as Nomad runs it ------------
# weft-cni looks for weftd at /run/weft/weftd.sock (the conflist names no
# other socket), and weftd's userspace hub serves /run/wireguard/NAME.sock:
# weftd and the driver share a mount namespace in which both directories are
# tmpfs of this test's, so the host's (another weftd's) are untouched. Each
# needs its directory on the host as a mount point.
for d in /run/weft /run/wireguard; do [ -d "$d" ] || { mkdir "$d" && MADE+=("$d"); }; done
mkdir -p "$DIR/config" "$DIR/bin" "$DIR/cache"
cp "$FILES/weft.conflist" "$DIR/config/"
cp "$ROOT/$BUILD/weft-cni" "$DIR/bin/weft"
# cni_path as client.hcl sets it, after a directory with this build's plugin;
# the network the example asks for.
CNI_PATH_NOMAD=$(sed -n 's/^ *cni_path *= *"\(.*\)"/\1/p' "$FILES/client.hcl")
NET=$(sed -n 's/^ *mode *= *"cni\/\(.*\)"/\1/p' "$FILES/sleep.hcl")
for i in 1 2; do
	ALLOC[$i]=$(cat /proc/sys/kernel/random/uuid)
	ip netns add "weft-t$$-a$i" && ip -n "weft-t$$-a$i" link set lo up
done
ip netns add "$NS1"
ip -n "$NS1" link set lo up
# The node's address on the underlay, which the template takes as weftd's endpoint.
ip -n "$NS1" link add under0 type dummy
ip -n "$NS1" addr add "10.99.$N.1/24" dev under0
ip -n "$NS1" link set under0 up

# With the parser: weftd.hcl's templates rendered as Nomad renders them on this
# node (named $NODE, at 10.99.$N.1), with a weft-manager in the node's
# namespace as the service weft-manager and the job's variable holding a join
# token from it and its CA; weftd runs on the rendered weftd.json, its state
# directory alone moved into $DIR by a flag. Without the parser, weftd runs
# alone on flags.
NODE=weft-t$$-n1
MPORT=$((22000 + N))
URL=https://127.0.0.1:$MPORT
SETTINGS=(--pod-subnet "10.76.$N.0/24" --pod-subnet6 "fd76:$N::/64" --log-level verbose)
start_manager() {
	ip netns exec "$NS1" "$ROOT/$BUILD/weft-manager" --state-dir "$DIR/mgr" --listen "127.0.0.1:$MPORT" \
		--cluster-cidr 10.76.0.0/16 --cluster-cidr fd76::/48 >>"$LOGS/weft-manager-$$.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do
		[ -s "$DIR/mgr/admin.token" ] && ip netns exec "$NS1" curl -sf --cacert "$DIR/mgr/ca.crt" "$URL/v1/health" && return 0
		sleep 0.1
	done
	return 1
}
admin() { ip netns exec "$NS1" "$WEFT" "$@" --manager "$URL" --ca "$DIR/mgr/ca.crt" --token-file "$DIR/mgr/admin.token"; }
render_weftd() {
	local token
	token=$(admin token create --ttl 1h) || return 1
	PYTHONPATH=$DIR python3 - "$W" "$DIR/alloc" "$NODE" "10.99.$N.1" "$token" "$DIR/mgr/ca.crt" "$MPORT" <<'EOF'
import json, sys
from q import tasks, materialize
w, alloc, node, addr, token, ca, port = sys.argv[1:]
j = json.load(open(w))
env = {"node.unique.name": node, "attr.unique.network.ip-address": addr,
       "NOMAD_TASK_DIR": alloc + "/local", "NOMAD_SECRETS_DIR": alloc + "/secrets"}
var = {"nomad/jobs/weftd": {"join_token": token, "manager_ca": open(ca).read()}}
for _, _, t in tasks(j):
    materialize(t, env, var, {"weft-manager": [("127.0.0.1", int(port))]})
EOF
}
if [ "$hcl_ok" = 1 ]; then
	check "weft-manager in the node's namespace (the service weft-manager)" start_manager
	check "weftd.hcl's templates rendered for node $NODE with a join token in the variable" render_weftd
	check "  the token file is 0600" test "$(stat -c %a "$DIR/alloc/secrets/join.token" 2>&1)" = 600
	SETTINGS=(--config "$DIR/alloc/local/weftd.json")
fi
# Slave propagation: namespaces made later (/run/netns) still appear in it.
start_weftd() {
	unshare --mount --propagation slave sh -c "mount -t tmpfs -o mode=0755 weft-t$$ /run/weft &&
		mount -t tmpfs -o mode=0700 weft-t$$ /run/wireguard &&
		exec ip netns exec $NS1 $WEFTD $(printf '%q ' "${SETTINGS[@]}") --state-dir $DIR/state" \
		>>"$LOGS/weft-weftd-$$.log" 2>&1 &
	WEFTD_PID=$!
	PIDS+=("$WEFTD_PID")
	wait_socket "/proc/$WEFTD_PID/root/run/weft/weftd.sock"
}
check "weftd in the node's namespace, its socket at /run/weft/weftd.sock in its mount namespace" start_weftd
if [ "$hcl_ok" = 1 ]; then
	joined() { # the manager has the node, at the rendered endpoint, with a subnet
		local out
		for _ in $(seq 100); do
			out=$(admin nodes 2>&1)
			echo "$out" | grep -F "$NODE" | grep -F "10.99.$N.1" | grep -q '10\.76\.' && return 0
			sleep 0.1
		done
		echo "$out"
		return 1
	}
	check "  it joined the manager with the rendered settings: weft nodes lists $NODE at 10.99.$N.1 with a subnet" joined
fi
# nomad INDEX COMMAND: the driver for allocation INDEX, in weftd's namespaces
# as Nomad's client runs on the node; the plugin runs traced in $DIR/trace.
nomad() {
	local rc
	nsenter -t "$WEFTD_PID" -m -n "$DRIVER" --config-dir "$DIR/config" --cni-path "$DIR/bin:$CNI_PATH_NOMAD" \
		--cache-dir "$DIR/cache" --netns "/var/run/netns/weft-t$$-a$1" --job sleep --group sleep \
		"$2" "$NET" "${ALLOC[$1]}" 2>"$DIR/err"
	rc=$?
	sed "s/^/a$1: /" "$DIR/err" >>"$DIR/trace"
	return $rc
}
check "the copy in cni_config_dir is the shipped file, byte for byte" cmp "$FILES/weft.conflist" "$DIR/config/weft.conflist"
r1=$(nomad 1 ADD)
check "ADD on cni/$NET: an address from the node's pod subnet, IPv4 and IPv6" \
	has "$r1$(cat "$DIR/err")" '"address":"10.76.' '"address":"fd76:' "alloc address 10.76."
# chain COMMAND TYPES: the plugins a1's COMMAND ran, in order.
chain() { [ "$(grep -oE "^a1: nomad-cni: $1 [a-z]+" "$DIR/trace" | cut -d' ' -f4 | tr '\n' ' ')" = "$2" ]; }
check "  weft, then portmap on weft's result (portmap from cni_path $CNI_PATH_NOMAD)" chain ADD 'weft portmap '
r2=$(nomad 2 ADD)
check "a second allocation" has "$r2" '"address":"10.76.'
a1=$(addr_of "$r1") a2=$(addr_of "$r2")
check "a1 ($a1) reaches a2 ($a2)" wait_ping "weft-t$$-a1" "$a2" 5
check "  and a2 a1" ip netns exec "weft-t$$-a2" ping -c 2 -W 3 "$a1"
pods() { nsenter -t "$WEFTD_PID" -m -n "$WEFT" pods 2>&1; }
check "weft pods (its default socket): both, as sleep.sleep" \
	has "$(pods)" "sleep.sleep alloc ${ALLOC[1]:0:8}" "sleep.sleep alloc ${ALLOC[2]:0:8}"
check "CHECK of a1" nomad 1 CHECK
check "  weft, then portmap, with the cached result" chain CHECK 'weft portmap '
del_both() { nomad 1 DEL && nomad 2 DEL; }
check "DEL of a1 and a2" del_both
check "  portmap, then weft" chain DEL 'portmap weft '
check "  no attachment left" none . ls "$DIR/state/attachments"
check "  no veth left on the node" none '^[0-9]+: weft[0-9a-f]{8}@' ip -n "$NS1" -o link
check "  weft pods: no pods" sh -c "nsenter -t $WEFTD_PID -m -n $WEFT pods 2>&1 | grep -q 'no pods'"
finish
