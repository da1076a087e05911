#!/usr/bin/env python3
"""Fit the vLLM profiles' CUDA-graph estimate to the start-up logs in tests/engines.

vLLM (0.19+) prints "Estimated CUDA graph memory: X GiB total" at start-up, and from 0.21 deducts
that estimate from the KV budget. This tool fits it as

    estimate = graphs x (base + per_layer x decoder layers on the GPU's pipeline stage) + moe x (1 if MoE)

with the graphs vLLM captures as its log prints them ("Profiling CUDA graph memory: PIECEWISE=a,
FULL=b"), else as kvplan counts them (engine.cuda_graphs of `kvplan estimate` under a deducting
profile; a log that prints both is checked against kvplan's count), by least squares over the
distinct deployments (fixtures repeating one model, stage, graph count and estimate count once). It prints the coefficients in GiB and bytes, each
deployment's residual, and the leave-one-out mean |error| beside that of one constant. The profile
keys it sets are cuda_graph_bytes, cuda_graph_bytes_per_layer and cuda_graph_bytes_moe
(docs/engines.md).

usage: tools/fit_graph_estimate.py KVPLAN [FIXTURE_DIR]
"""
import json
import pathlib
import re
import subprocess
import sys

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
from engine_fixtures import cli_args  # noqa: E402  (the fixtures' deployment as kvplan arguments)

DEDUCTING_PROFILE = "vllm@0.21"
LOGGED_GRAPHS = re.compile(r"Profiling CUDA graph memory: PIECEWISE=(\d+)[^,\n]*(?:, FULL=(\d+))?")
GIB = 1024 ** 3


def solve(a, b):
    n = len(a)
    m = [row[:] + [v] for row, v in zip(a, b)]
    for i in range(n):
        p = max(range(i, n), key=lambda r: abs(m[r][i]))
        m[i], m[p] = m[p], m[i]
        for r in range(n):
            if r != i:
                f = m[r][i] / m[i][i]
                m[r] = [x - f * y for x, y in zip(m[r], m[i])]
    return [m[i][n] / m[i][i] for i in range(n)]


def dot(coef, x):
    return sum(a * b for a, b in zip(coef, x))


def least_squares(xs, ys):
    k = len(xs[0])
    a = [[sum(x[i] * x[j] for x in xs) for j in range(k)] for i in range(k)]
    b = [sum(x[i] * y for x, y in zip(xs, ys)) for i in range(k)]
    return solve(a, b)


def leave_one_out(xs, ys):
    errors = []
    for i in range(len(xs)):
        c = least_squares(xs[:i] + xs[i + 1:], ys[:i] + ys[i + 1:])
        errors.append(abs(dot(c, xs[i]) - ys[i]))
    return sum(errors) / len(errors), max(errors), errors.index(max(errors))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    kvplan = sys.argv[1]
    folder = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "tests/engines").resolve()
    root = folder.parent.parent
    rows = {}
    for path in sorted(folder.glob("*.yaml")):
        fixture = yaml.safe_load(path.read_text())
        logged = fixture.get("logged") or {}
        deploy = fixture.get("kvplan") or {}
        if "cuda_graph_estimated_gib" not in logged or "model" not in deploy:
            continue
        args = deploy.get("args") or {}
        model = deploy["model"]
        if model.endswith(".json"):
            model = str(root / model)
        shown = subprocess.run([kvplan, "show", model, "--format", "json"], capture_output=True, text=True,
                               check=True, cwd=root)
        layers = json.loads(shown.stdout)["layers"]
        pp = int(args.get("pipeline_parallel_size", 1))
        per_stage = -(-len(layers) // pp)  # the first stages carry the remainder
        moe = any(layer["block"] == "moe" or " moe " in layer["description"] for layer in layers)
        argv = cli_args(dict(deploy, engine=DEDUCTING_PROFILE), str(root))
        planned = subprocess.run([kvplan, "estimate", "--format", "json"] + argv, capture_output=True, text=True,
                                 check=True, cwd=root)
        graphs = json.loads(planned.stdout)["engine"]["cuda_graphs"]
        printed = LOGGED_GRAPHS.search(fixture.get("log") or "")
        if printed:
            counted = int(printed.group(1)) + int(printed.group(2) or 0)
            if counted != graphs:
                print(f"{path.stem}: the log captures {counted} graphs, kvplan counts {graphs}")
            graphs = counted
        estimate = float(logged["cuda_graph_estimated_gib"])
        rows.setdefault((model, pp, graphs, estimate), (path.stem, graphs, per_stage, moe, estimate))
    data = list(rows.values())
    xs = [[float(graphs), float(graphs * stage), 1.0 if moe else 0.0] for _, graphs, stage, moe, _ in data]
    ys = [estimate for *_, estimate in data]
    coef = least_squares(xs, ys)
    for (name, graphs, stage, moe, estimate), x in zip(data, xs):
        fitted = dot(coef, x)
        print(f"{name:60s} graphs {graphs:3d} layers {stage:3d} moe {int(moe)}  logged {estimate:5.2f}  fitted {fitted:5.2f}")
    # The graph count's part: fitted on the deployments of the most common count alone, how close
    # are the others?
    common = max(set(g for _, g, *_ in data), key=lambda g: sum(1 for _, h, *_ in data if h == g))
    inside = [i for i, row in enumerate(data) if row[1] == common]
    if len(inside) < len(data):
        part = least_squares([xs[i] for i in inside], [ys[i] for i in inside])
        for i, (name, graphs, *_rest, estimate) in enumerate(data):
            if graphs != common:
                predicted = dot(part, xs[i])
                print(f"fitted on the {len(inside)} deployments of {common} graphs, {name} ({graphs} graphs): "
                      f"logged {estimate:.2f}, predicted {predicted:.2f} GiB")
    mean, worst, at = leave_one_out(xs, ys)
    cmean, cworst, _ = leave_one_out([[1.0] for _ in xs], ys)
    print(f"{len(data)} deployments")
    for key, value in zip(["cuda_graph_bytes", "cuda_graph_bytes_per_layer", "cuda_graph_bytes_moe"], coef):
        print(f"{key}: {round(value * GIB)}   # {value * 1024:.3f} MiB")
    print(f"leave-one-out mean |error| {mean:.3f} GiB (max {worst:.3f}, {data[at][0]}); "
          f"one constant: {cmean:.3f} GiB (max {cworst:.3f})")


if __name__ == "__main__":
    main()
