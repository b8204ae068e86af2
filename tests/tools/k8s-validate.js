#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Validates Kubernetes manifests against the real OpenAPI schemas, through
// npm's kubernetes-models (each kind's class, its validate()):
//   NODE_PATH=DIR/node_modules node k8s-validate.js FILE...
// Prints "ok KIND NAME (FILE)" per object, or what is wrong with it; exits
// 1 if any object is invalid or of a kind it cannot check.
"use strict";
const fs = require("fs");
const yaml = require("js-yaml");

let bad = 0;
for (const file of process.argv.slice(2)) {
  let docs;
  try {
    docs = yaml.loadAll(fs.readFileSync(file, "utf8")).filter((d) => d);
  } catch (e) {
    console.log(`invalid YAML in ${file}: ${e.message}`);
    bad++;
    continue;
  }
  for (const doc of docs) {
    const [group, version] = doc.apiVersion.includes("/") ? doc.apiVersion.split("/") : [null, doc.apiVersion];
    const where = group ? `kubernetes-models/${group}/${version}/${doc.kind}` : `kubernetes-models/${version}/${doc.kind}`;
    const name = `${doc.kind} ${doc.metadata && doc.metadata.name} (${file})`;
    let Kind;
    try {
      Kind = require(where)[doc.kind];
    } catch (e) {
      console.log(`cannot check ${name}: no schema for ${doc.apiVersion} ${doc.kind}`);
      bad++;
      continue;
    }
    try {
      new Kind(doc).validate();
      console.log(`ok ${name}`);
    } catch (e) {
      console.log(`invalid ${name}: ${e.message}`);
      bad++;
    }
  }
}
process.exit(bad ? 1 : 0);
