#!/usr/bin/env python3
"""Writes synthetic-chat.csv: 200 synthetic chat requests (not a measurement).

Prompt and output lengths are log-normal (medians 600 and 250 tokens, sigma 1.0 and 0.8), capped at
8,192 and 2,048 tokens, with Poisson arrivals at 2 requests/s; random.Random(2309) makes the file
reproducible. It shows the trace format (`prompt_tokens,output_tokens,arrival_s`, the fleet
traces' header) and a long-tailed mix for `--prompt-dist`; use a recorded trace for real planning.
"""
import math
import random

rng = random.Random(2309)
t = 0.0
with open("synthetic-chat.csv", "w") as f:
    f.write("prompt_tokens,output_tokens,arrival_s\n")
    for _ in range(200):
        t += rng.expovariate(2.0)
        prompt = min(8192, max(1, round(600 * math.exp(rng.gauss(0, 1.0)))))
        output = min(2048, max(1, round(250 * math.exp(rng.gauss(0, 0.8)))))
        f.write(f"{prompt},{output},{t:.3f}\n")
