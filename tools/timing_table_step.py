#!/usr/bin/env python3
"""Measured (bench/step_torch.py on the GPU) vs expected (kvplan estimate) prefill and decode times.

Usage: tools/timing_table_step.py STEP_JSON... [--kvplan PATH] [--gpu PRESET] > table.md
  e.g. tools/timing_table_step.py bench/results/h200_prefill.json bench/results/h200_step.json --kvplan build/kvplan
Reads the bench's step_measured.json files (one run each: a section run later replaces nothing, so
give each kind in one file); for every record runs the kvplan command line the record
carries (kvplan replaced by PATH, the GPU preset by --gpu if given) and reads the field it names
(prefill.time_s or decode.step_time_s). Prints markdown tables per kind: measured ms, expected ms,
expected / measured, and the mean |expected / measured - 1| per class (kind; MoE by routing). For
prefill it also splits the time by op class: the measured linear and attention times against
kvplan's own phase times for them (prefill.phases.linear.time_s, prefill.phases.attention.time_s);
the measured elementwise time has its kvplan counterpart in prefill.phases.elementwise.time_s.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def dotted(d, key):
    for part in key.split("."):
        d = d[part]
    return d


def kvplan(binary, argv, gpu):
    argv = [binary] + list(argv[1:])
    if gpu:
        i = argv.index("-g") if "-g" in argv else argv.index("--gpu")
        argv[i + 1] = gpu
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {out.stderr.strip()[:300]}")
    return json.loads(out.stdout)


def fmt(x, spec=".3f"):
    return "n/a" if x is None else format(x, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json", nargs="+", help="step_measured.json files from bench/step_torch.py")
    ap.add_argument("--kvplan", default=os.path.join(ROOT, "build", "kvplan"))
    ap.add_argument("--gpu", help="GPU preset for kvplan (default: the one each record names)")
    args = ap.parse_args()
    runs = []
    for name in args.json:
        with open(name) as f:
            runs.append(json.load(f))
    for run, name in zip(runs, args.json):
        print(f"{os.path.basename(name)}: {run['device']}, torch {run['torch']}, triton {run['triton']}"
              f"{' (quick run)' if run.get('quick') else ''}, sections {', '.join(run.get('sections', []))}.\n")
    data = {"chunk": runs[0].get("chunk", 8192), "records": [r for run in runs for r in run["records"]],
            "skipped": [x for run in runs for x in run.get("skipped", [])],
            "errors": [x for run in runs for x in run.get("errors", [])]}
    errors = {}  # class -> list of |ratio - 1|
    kinds = ["prefill", "moe_decode", "sliding_decode"]
    for kind in kinds:
        recs = [r for r in data["records"] if r["kind"] == kind]
        if not recs:
            continue
        if kind == "prefill":
            print("### Prefill (batch 1, chunks of %d tokens)\n" % data.get("chunk", 8192))
            print("| model | prompt | measured ms | expected ms | expected / measured | linear ms (meas / kvplan) "
                  "| attention ms (meas / kvplan) | elementwise ms (meas / kvplan) | attention |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        elif kind == "moe_decode":
            print("\n### MoE decode step\n")
            print("| model | routing | batch | context | measured ms | expected ms | expected / measured "
                  "| experts touched (meas / kvplan) | kernels/step | best |")
            print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
        else:
            print("\n### Sliding-window decode step\n")
            print("| model | batch | context | cache tokens | measured ms | expected ms | expected / measured "
                  "| kernels/step | best |")
            print("|---|---:|---:|---|---:|---:|---:|---:|---|")
        for r in recs:
            cls = kind + (f" ({r['routing']})" if r.get("routing") else "")
            try:
                j = kvplan(args.kvplan, r["kvplan"], args.gpu)
                expected = dotted(j, r["kvplan_field"]) * 1e3
            except Exception as exc:  # one bad record does not stop the table
                print(f"<!-- {r['model']} {r.get('prompt', r['context'])}: {exc} -->", file=sys.stdout)
                j, expected = None, None
            measured = r["median_ms"]
            ratio = expected / measured if expected else None
            if ratio is not None:
                errors.setdefault(cls, []).append(abs(ratio - 1))
            if kind == "prefill":
                cm = r.get("classes_ms", {})
                lin_k = att_k = ew_k = None
                if j is not None:
                    phases = j["prefill"]["phases"]
                    ms = {name: (p["time_s"] * 1e3 if p["time_s"] is not None else None) for name, p in phases.items()}
                    lin_k, att_k, ew_k = ms["linear"], ms["attention"], ms["elementwise"]
                    for name, meas, exp in (("linear (compute)", cm.get("linear"), lin_k),
                                            ("attention (compute)", cm.get("attention"), att_k),
                                            ("elementwise (bandwidth)", cm.get("elementwise"), ew_k)):
                        if meas and exp is not None:
                            errors.setdefault(f"prefill {name}", []).append(abs(exp / meas - 1))
                print(f"| {r['model']} | {r['prompt']} | {measured:.2f} | {fmt(expected, '.2f')} | {fmt(ratio)} "
                      f"| {fmt(cm.get('linear'), '.2f')} / {fmt(lin_k, '.2f')} | {fmt(cm.get('attention'), '.2f')} / "
                      f"{fmt(att_k, '.2f')} | {fmt(cm.get('elementwise'), '.2f')} / {fmt(ew_k, '.2f')} | {r.get('attention_method', '')} |")
            elif kind == "moe_decode":
                touched_k = j["decode"].get("experts_touched") if j is not None else None
                print(f"| {r['model']} | {r['routing']} | {r['batch']} | {r['context']} | {measured:.3f} | {fmt(expected)} "
                      f"| {fmt(ratio)} | {r['experts_touched_mean']:.2f} / {fmt(touched_k, '.2f')} "
                      f"| {r.get('kernels_per_step')} | {r.get('best', '')} |")
            else:
                print(f"| {r['model']} | {r['batch']} | {r['context']} | {'/'.join(str(x) for x in r.get('cache_lens', []))} "
                      f"| {measured:.3f} | {fmt(expected)} | {fmt(ratio)} | {r.get('kernels_per_step')} | {r.get('best', '')} |")
    print("\n| class | points | mean abs(expected / measured - 1) | largest |")
    print("|---|---:|---:|---:|")
    for cls, errs in errors.items():
        print(f"| {cls} | {len(errs)} | {100 * sum(errs) / len(errs):.1f}% | {100 * max(errs):.1f}% |")
    if data.get("skipped"):
        print("\nSkipped: " + "; ".join(data["skipped"]) + ".")
    if data.get("errors"):
        print("\nErrors in the run: " + "; ".join(f"{e['where']}: {e['error'][:120]}" for e in data["errors"]) + ".")


if __name__ == "__main__":
    main()
