#!/usr/bin/env python3
"""Prices the whole decode steps bench/calibrate_steps.sh measured with several presets and prints
the error of each (predicted / measured - 1) as a Markdown table, with the mean |error| per preset.
The measured step does not depend on the preset, so any preset can be priced after the run.

    bench/calibrate_steps.py KVPLAN OUTDIR PRESET...   (e.g. build/kvplan /tmp/run h200 presets/h200-calibrated.yaml)
    bench/calibrate_steps.py --components KVPLAN OUTDIR PRESET...
    bench/calibrate_steps.py --prefill KVPLAN OUTDIR PRESET...

OUTDIR may also be a moe_sweep.json of bench/moe_sweep.sh, as FILE or FILE:BINDIR when it timed several builds.
--components prices each step's components instead: each of the decode model's components against
the same kernels alone in a CUDA graph (validate's rows; `elementwise` = the small kernels together,
`kernel_gaps` = the whole graph less the components' graphs).
--prefill prices the whole prefills of bench/prefill_schedule.sh instead (OUTDIR/prefill-*.json:
each pass of validate's "prefill N (graph)" rows, one pass of N tokens, as validate predicts it).
"""
import glob
import json
import os
import subprocess
import sys


def estimate(kvplan, model, gpu, batch, context, *extra):
    # As validate predicts: the kernels only (engine ideal), bf16 weights as the reference linears run.
    out = subprocess.run([kvplan, "estimate", "-m", model, "-g", gpu, "-b", str(batch), "-c", str(context), *extra,
                          "--engine", "ideal", "--weight-dtype", "bf16", "--format", "json"],
                         check=True, capture_output=True, text=True, env=dict(os.environ, KVPLAN_DATA_DIR="")).stdout
    return json.loads(out)


def predicted_decode(kvplan, model, gpu, batch, context):
    return estimate(kvplan, model, gpu, batch, context)["decode"]


def predicted_step_s(kvplan, model, gpu, batch, context):
    return predicted_decode(kvplan, model, gpu, batch, context)["step_time_s"]


# The steps kvplan calibrate fits kernel_gap_s on (src/cli/calibrate.cpp kSteps).
FIT = {("llama-3.1-8b", 1, 4096), ("llama-3.1-8b", 8, 32768), ("llama-3.1-8b", 32, 8192)}
COMPONENTS = ["weights", "kv_cache", "ssm_state", "lm_head", "elementwise", "kernel_gaps"]


def components(kvplan, outdir, presets):
    runs = json.load(open(os.path.join(outdir, "validate.json")))
    names = [os.path.basename(p).removesuffix(".yaml") for p in presets]
    print("| model | batch | context | component | kernels | measured us | " + " | ".join(f"{n} error %" for n in names) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(presets))
    errors = {n: [] for n in names}
    for key, r in runs.items():
        if "decode" not in r:
            continue
        rows = {c["name"]: c for c in r["decode"]}
        predicted = [{k: c["time_s"] for k, c in predicted_decode(kvplan, r["model"], p, r["batch"], r["context"])["components"].items()}
                     for p in presets]
        for comp in COMPONENTS:
            if comp not in rows:
                continue
            measured = rows[comp]["measured"]["median_s"]
            cells = []
            for n, pred in zip(names, predicted):
                t = pred.get(comp, 0.0)
                e = t / measured - 1 if measured > 0 else float("nan")
                if comp != "kernel_gaps":
                    errors[n].append(abs(e))
                cells.append(f"{100 * e:+.1f}" if measured > 0 else f"({t * 1e6:.0f} us)")
            print(f"| {r['model']} | {r['batch']} | {r['context']} | {comp} | {rows[comp]['kernels']} | {measured * 1e6:.1f} | "
                  + " | ".join(cells) + " |")
    print("| mean abs error (not kernel_gaps) | | | | | | " + " | ".join(f"{100 * sum(v) / len(v):.1f}" for v in errors.values()) + " |")
    print("| max abs error (not kernel_gaps) | | | | | | " + " | ".join(f"{100 * max(v):.1f}" for v in errors.values()) + " |")


def prefills(kvplan, outdir, presets):
    names = [os.path.basename(p).removesuffix(".yaml") for p in presets]
    print("| model | prompt | measured ms | " + " | ".join(f"{n} error %" for n in names) + " |")
    print("|---|---|---|" + "---|" * len(presets))
    errors = {n: [] for n in names}
    for path in sorted(glob.glob(os.path.join(outdir, "prefill-*.json"))):
        r = json.load(open(path))
        for t in r["prefill"]:
            if not t["name"].endswith("(graph)"):
                continue
            prompt = int(t["name"].split()[1])
            measured = t["measured"]["median_s"]
            cells = []
            for n, p in zip(names, presets):
                # As validate predicts a whole prefill: one pass of the prompt.
                predicted = estimate(kvplan, r["model"], p, 1, prompt, "--prompt", str(prompt),
                                     "--max-num-batched-tokens", str(prompt))["prefill"]["time_s"]
                e = predicted / measured - 1
                errors[n].append(abs(e))
                cells.append(f"{100 * e:+.1f}")
            print(f"| {r['model']} | {prompt} | {measured * 1e3:.2f} | " + " | ".join(cells) + " |")
    print("| mean abs error | | | " + " | ".join(f"{100 * sum(v) / len(v):.1f}" for v in errors.values()) + " |")


def main():
    if sys.argv[1] == "--components":
        return components(sys.argv[2], sys.argv[3], sys.argv[4:])
    if sys.argv[1] == "--prefill":
        return prefills(sys.argv[2], sys.argv[3], sys.argv[4:])
    kvplan, outdir, presets = sys.argv[1], sys.argv[2], sys.argv[3:]
    if ".json" in outdir:
        path, _, binary = outdir.partition(":")
        records = json.load(open(path))["records"]
        binaries = sorted({r["binary"] for r in records})
        if not binary and len(binaries) > 1:
            sys.exit(f"{path} timed several builds ({', '.join(binaries)}): name one as {path}:BINDIR")
        binary = binary or binaries[0]
        runs = [(r["model"], r["batch"], r["context"], r["step_measured_s"]) for r in records if r["binary"] == binary]
    else:
        runs = [(r["model"], r["batch"], r["context"], r["decode_step"]["measured"]["median_s"])
                for r in json.load(open(os.path.join(outdir, "validate.json"))).values() if "decode_step" in r]
    names = [os.path.basename(p).removesuffix(".yaml") for p in presets]
    print("| model | batch | context | measured us | " + " | ".join(f"{n} error %" for n in names) + " |")
    print("|---|---|---|---|" + "---|" * len(presets))
    errors = {n: [] for n in names}
    for model, batch, context, measured in runs:
        cells = []
        fit = (model, batch, context) in FIT
        for n, p in zip(names, presets):
            e = predicted_step_s(kvplan, model, p, batch, context) / measured - 1
            if not fit:
                errors[n].append(abs(e))
            cells.append(f"{100 * e:+.1f}")
        print(f"| {model}{' (fit)' if fit else ''} | {batch} | {context} | {measured * 1e6:.1f} | " + " | ".join(cells) + " |")
    print("| mean abs error (not the fit steps) | | | | " + " | ".join(f"{100 * sum(v) / len(v):.1f}" for v in errors.values()) + " |")


if __name__ == "__main__":
    main()
