#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""CNI ADD and DEL latency, as a runtime sees it: the wall time from exec of
the plugin to its exit, for each configuration given, serially and N at a
time. The plugins run in the node's network namespace (--node, entered with
setns, so the mounts stay the host's and the agent sees every container
namespace); container namespaces are made before and removed after each
timed phase, outside the timing. Prints a table and one JSON line.

  cni_latency.py --node NS --containers 40 --parallel 20 --rounds 2 NAME=PLUGIN:CONFFILE ...
"""
import ctypes
import argparse
import json
import os
import subprocess
import sys
import threading
import time


def run_plugin(plugin, conf, command, cid, netns, cni_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0" if "bridge" in plugin or "ptp" in plugin else "wg0",
        "CNI_PATH": cni_path,
    }
    t0 = time.perf_counter_ns()
    p = subprocess.run([plugin], input=conf, env=env, capture_output=True)
    dt = (time.perf_counter_ns() - t0) / 1e6
    if p.returncode != 0:
        sys.exit(f"{plugin} {command} {cid}: exit {p.returncode}: {p.stdout.decode()} {p.stderr.decode()}")
    return dt


def quantile(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    # nearest rank
    k = max(0, min(len(xs) - 1, int(round(q * len(xs) + 0.5)) - 1))
    return xs[k]


def netns_add(names):
    for n in names:
        subprocess.run(["ip", "netns", "add", n], check=True)
        subprocess.run(["ip", "-n", n, "link", "set", "lo", "up"], check=True)


def netns_del(names):
    for n in names:
        subprocess.run(["ip", "netns", "del", n], stderr=subprocess.DEVNULL)


def phase(plugin, conf, command, ids, prefix, parallel, cni_path):
    """Runs command for every id, `parallel` at a time; returns latencies."""
    out = []
    lock = threading.Lock()

    def one(i):
        dt = run_plugin(plugin, conf, command, f"{prefix}-{i}", f"/var/run/netns/{prefix}-{i}", cni_path)
        with lock:
            out.append(dt)

    for start in range(0, len(ids), parallel):
        batch = ids[start:start + parallel]
        if parallel == 1:
            one(batch[0])
            continue
        threads = [threading.Thread(target=one, args=(i,)) for i in batch]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return out


def enter_netns(name):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        sys.exit(f"setns {name}: {os.strerror(ctypes.get_errno())}")
    os.close(fd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", help="the node's network namespace")
    ap.add_argument("--containers", type=int, default=40)
    ap.add_argument("--parallel", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--prefix", default=f"wb{os.getpid()}")
    ap.add_argument("--cni-path", default="/usr/lib/cni")
    ap.add_argument("setups", nargs="+", help="NAME=PLUGIN:CONFFILE")
    a = ap.parse_args()
    if a.node:
        enter_netns(a.node)

    setups = []
    for s in a.setups:
        name, rest = s.split("=", 1)
        plugin, conffile = rest.split(":", 1)
        with open(conffile, "rb") as f:
            setups.append((name, plugin, f.read()))

    samples = {name: {k: [] for k in ("add1", "del1", "addN", "delN")} for name, _, _ in setups}
    # Rounds alternate the configurations, so a noisy neighbour hurts all alike.
    for r in range(a.rounds):
        for name, plugin, conf in setups:
            for label, par in (("1", 1), ("N", a.parallel)):
                prefix = f"{a.prefix}-{name}-{r}{label}"[:40]
                ids = list(range(a.containers if par == 1 else a.parallel * max(1, a.containers // a.parallel)))
                names = [f"{prefix}-{i}" for i in ids]
                netns_add(names)
                try:
                    samples[name]["add" + label] += phase(plugin, conf, "ADD", ids, prefix, par, a.cni_path)
                    samples[name]["del" + label] += phase(plugin, conf, "DEL", ids, prefix, par, a.cni_path)
                finally:
                    netns_del(names)

    ref = setups[0][0]
    print(f"{'':<16}{'ADD serial':>20}{'DEL serial':>20}{'ADD x' + str(a.parallel):>20}{'DEL x' + str(a.parallel):>20}")
    print(f"{'ms':<16}" + f"{'median    p99':>20}" * 4)
    for name, _, _ in setups:
        row = f"{name:<16}"
        for k in ("add1", "del1", "addN", "delN"):
            xs = samples[name][k]
            row += f"{quantile(xs, 0.5):>12.1f}{quantile(xs, 0.99):>8.1f}"
        print(row)
    print(f"\nratio of medians to {ref} (below 1: faster than {ref}):")
    for name, _, _ in setups[1:]:
        row = f"{name:<16}"
        for k in ("add1", "del1", "addN", "delN"):
            row += f"{quantile(samples[name][k], 0.5) / quantile(samples[ref][k], 0.5):>20.2f}"
        print(row)
    print(json.dumps({n: {k: {"median": quantile(v, 0.5), "p99": quantile(v, 0.99), "n": len(v)}
                          for k, v in s.items()} for n, s in samples.items()}))


if __name__ == "__main__":
    main()
