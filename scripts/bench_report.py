#!/usr/bin/env python3
"""Renders docs/bench/*.jsonl (from `vectron bench search --json` and `bench filtered --json`) as markdown tables inside
docs/benchmarks.md, between <!-- BEGIN bench --> and <!-- END bench -->."""
import glob
import json
import math
import os
import re
import sys


def table(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    v = {r["ef"]: r for r in rows if r["system"] == "vectron"}
    h = {r["ef"]: r for r in rows if r["system"] == "hnswlib"}
    out = ["| ef | vectron recall@10 | hnswlib recall@10 | vectron QPS | hnswlib QPS | QPS ratio |",
           "|---:|---:|---:|---:|---:|---:|"]
    for ef in sorted(v):
        a, b = v[ef], h.get(ef)
        ratio = f"{a['qps'] / b['qps']:.2f}" if b and b["qps"] else "-"
        out.append(f"| {ef} | {a['recall']:.4f} | {b['recall'] if b else float('nan'):.4f} | {a['qps']:.0f} | "
                   f"{b['qps'] if b else 0:.0f} | {ratio} |")
    any_v, any_h = next(iter(v.values())), next(iter(h.values()), None)
    build = f"Build: vectron {any_v['build_s']:.1f} s (durable import through the API, RSS +{any_v['rss_mb']:.0f} MB)"
    if any_h:
        build += (f", hnswlib {any_h['build_s']:.1f} s (RSS +{any_h['rss_mb']:.0f} MB); "
                  f"build throughput ratio {any_h['build_s'] / any_v['build_s']:.2f}")
    # First ef at which vectron reaches recall 0.95, and the ratio there.
    at95 = next((ef for ef in sorted(v) if v[ef]["recall"] >= 0.95), None)
    note = ""
    if at95 is not None and at95 in h and h[at95]["qps"]:
        note = f"At the first ef with recall@10 ≥ 0.95 (ef={at95}): QPS ratio {v[at95]['qps'] / h[at95]['qps']:.2f}."
    return "\n".join(out) + "\n\n" + build + ". " + note + "\n"


def qps_at_recall(curve, target):
    """QPS at `target` recall, interpolated in (recall, log QPS) between the measured points
    around it; None if the curve never reaches it."""
    curve = sorted(curve)
    for i, (r1, q1) in enumerate(curve):
        if r1 < target:
            continue
        if i == 0:
            return q1
        r0, q0 = curve[i - 1]
        t = (target - r0) / (r1 - r0) if r1 > r0 else 1.0
        return math.exp(math.log(q0) + t * (math.log(q1) - math.log(q0)))
    return None


def filtered_table(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    out = ["| correlation | selectivity | matches | ef | recall@10 | QPS | unfiltered QPS | unfiltered recall@10 | ratio |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ur = r.get("unfiltered_recall")
        out.append(f"| {r['correlation']} | {r['selectivity']:g} | {r['matches']} | {r['ef']} | {r['recall']:.4f} | "
                   f"{r['qps']:.0f} | {r['unfiltered_qps']:.0f} | {ur if ur is not None else float('nan'):.4f} | "
                   f"{r['qps'] / r['unfiltered_qps']:.2f} |")
    # Target 2 of issue 21: filtered QPS at recall 0.95 against unfiltered QPS at recall
    # 0.95, each interpolated over the ef sweep of the same group (same run).
    groups = {}
    for r in rows:
        groups.setdefault((r["correlation"], r["selectivity"]), []).append(r)
    if all("unfiltered_recall" in r for r in rows):
        out += ["", "At recall@10 = 0.95 (interpolated over ef):", "",
                "| correlation | selectivity | filtered QPS | unfiltered QPS | ratio |", "|---|---:|---:|---:|---:|"]
        for (corr, sel), g in groups.items():
            f = qps_at_recall([(r["recall"], r["qps"]) for r in g], 0.95)
            u = qps_at_recall([(r["unfiltered_recall"], r["unfiltered_qps"]) for r in g], 0.95)
            ratio = f"{f / u:.2f}" if f and u else "-"
            fs = f"{f:.0f}" if f else "not reached"
            us = f"{u:.0f}" if u else "not reached"
            out.append(f"| {corr} | {sel:g} | {fs} | {us} | {ratio} |")
    return "\n".join(out) + "\n"


def main(bench_dir, doc):
    parts = []
    for path in sorted(glob.glob(os.path.join(bench_dir, "*.jsonl"))):
        name = os.path.basename(path)[:-6]
        parts.append(f"### {name}\n\n" + table(path))
    body = "\n".join(parts)
    text = open(doc).read()
    text = re.sub(r"<!-- BEGIN bench -->.*<!-- END bench -->",
                  lambda _: "<!-- BEGIN bench -->\n" + body + "<!-- END bench -->", text, flags=re.S)
    fparts = []
    for path in sorted(glob.glob(os.path.join(bench_dir, "filtered", "*.jsonl"))):
        name = os.path.basename(path)[:-6]
        fparts.append(f"### {name}, filtered\n\n" + filtered_table(path))
    if fparts:
        fbody = "\n".join(fparts)
        text = re.sub(r"<!-- BEGIN filtered -->.*<!-- END filtered -->",
                      lambda _: "<!-- BEGIN filtered -->\n" + fbody + "<!-- END filtered -->", text, flags=re.S)
    open(doc, "w").write(text)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
