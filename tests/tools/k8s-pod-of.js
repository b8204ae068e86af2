#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// The pod a DaemonSet, StatefulSet or Deployment would make on one node,
// as a Pod that `podman kube play` runs: what a kubelet does before it
// starts the containers, done here since there is no kubelet.
//   NODE_PATH=DIR/node_modules node k8s-pod-of.js FILE KIND NAME SETTINGS.json
// SETTINGS: {"name": the pod's name, "fields": {"spec.nodeName": ...,
// "status.hostIP": ...}, "hostPaths": {"/var/lib/weft": "/tmp/x/var/lib/weft",
// ...}, "secrets": {"weft-ca": "/tmp/x/secrets/weft-ca", ...},
// "claims": {"state": "/tmp/x/manager-state"}}. It:
//  - takes the template's metadata and spec;
//  - resolves env fieldRefs to the given values and expands $(VAR) in
//    command and args, as the kubelet does;
//  - maps hostPath volumes to the given paths (the test's own, not the
//    machine's), secret volumes and volume claims to directories the test
//    filled (podman 4.3 plays neither from the cluster);
//  - plays a pod with init containers with restartPolicy OnFailure, not
//    Always (below);
//  - drops the containers' ports on the host network (podman refuses
//    them there; Kubernetes only records them);
//  - keeps everything else (configMap volumes, init containers, host
//    network, privileges, mounts) for podman to play.
"use strict";
const fs = require("fs");
const yaml = require("js-yaml");

const [file, kind, name, settingsFile] = process.argv.slice(2);
const s = JSON.parse(fs.readFileSync(settingsFile, "utf8"));
const obj = yaml.loadAll(fs.readFileSync(file, "utf8")).find((d) => d && d.kind === kind && d.metadata.name === name);
if (!obj) {
  console.error(`no ${kind} ${name} in ${file}`);
  process.exit(1);
}
const spec = JSON.parse(JSON.stringify(obj.spec.template.spec));
const fail = (msg) => {
  console.error(msg);
  process.exit(1);
};

for (const c of [...(spec.initContainers || []), ...spec.containers]) {
  const env = {};
  for (const e of c.env || []) {
    if (e.valueFrom && e.valueFrom.fieldRef) {
      const v = s.fields[e.valueFrom.fieldRef.fieldPath];
      if (v === undefined) fail(`no value for the field ${e.valueFrom.fieldRef.fieldPath}`);
      e.value = v;
      delete e.valueFrom;
    }
    env[e.name] = e.value;
  }
  // On the host network a container's ports are the host's, and listing
  // them only informs Kubernetes; podman refuses them there.
  if (spec.hostNetwork) delete c.ports;
  const expand = (a) => a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v) => (v in env ? env[v] : m));
  if (c.command) c.command = c.command.map(expand);
  if (c.args) c.args = c.args.map(expand);
}
for (const v of spec.volumes || []) {
  if (v.hostPath) {
    if (!(v.hostPath.path in s.hostPaths)) fail(`no stand-in for the host path ${v.hostPath.path}`);
    v.hostPath.path = s.hostPaths[v.hostPath.path];
  } else if (v.secret) {
    if (!(v.secret.secretName in s.secrets)) fail(`no stand-in for the secret ${v.secret.secretName}`);
    const dir = s.secrets[v.secret.secretName];
    delete v.secret;
    v.hostPath = { path: dir, type: "Directory" };
  }
}
for (const t of obj.spec.volumeClaimTemplates || []) {
  if (!(t.metadata.name in s.claims)) fail(`no stand-in for the volume claim ${t.metadata.name}`);
  (spec.volumes = spec.volumes || []).push({ name: t.metadata.name, hostPath: { path: s.claims[t.metadata.name], type: "Directory" } });
}
// podman 4.3 applies a restart policy of Always to the init containers
// too, restarting them once they are done, and then cannot remove them as
// it must: OnFailure, which restarts weftd on failure all the same.
if (spec.initContainers && (spec.restartPolicy || "Always") === "Always") spec.restartPolicy = "OnFailure";
const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: s.name, labels: obj.spec.template.metadata.labels }, spec };
process.stdout.write(yaml.dump(pod));
