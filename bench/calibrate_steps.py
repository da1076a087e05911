#!/usr/bin/env python3
"""Prices the whole decode steps bench/calibrate_steps.sh measured with several presets and prints
the error of each (predicted / measured - 1) as a Markdown table, with the mean |error| per preset.
The measured step does not depend on the preset, so any preset can be priced after the run.

    bench/calibrate_steps.py KVPLAN OUTDIR PRESET...   (e.g. build/kvplan /tmp/run h200 presets/h200-calibrated.yaml)

OUTDIR may also be a moe_sweep.json of bench/moe_sweep.sh, as FILE or FILE:BINDIR when it timed several builds.
"""
import json
import os
import subprocess
import sys


def predicted_step_s(kvplan, model, gpu, batch, context):
    # As validate predicts: the kernels only (engine ideal), bf16 weights as the reference linears run.
    out = subprocess.run([kvplan, "estimate", "-m", model, "-g", gpu, "-b", str(batch), "-c", str(context),
                          "--engine", "ideal", "--weight-dtype", "bf16", "--format", "json"],
                         check=True, capture_output=True, text=True, env=dict(os.environ, KVPLAN_DATA_DIR="")).stdout
    return json.loads(out)["decode"]["step_time_s"]


def main():
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
        for n, p in zip(names, presets):
            e = predicted_step_s(kvplan, model, p, batch, context) / measured - 1
            errors[n].append(abs(e))
            cells.append(f"{100 * e:+.1f}")
        print(f"| {model} | {batch} | {context} | {measured * 1e6:.1f} | " + " | ".join(cells) + " |")
    print("| mean abs error | | | | " + " | ".join(f"{100 * sum(v) / len(v):.1f}" for v in errors.values()) + " |")


if __name__ == "__main__":
    main()
