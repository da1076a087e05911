"""Timing a CUDA graph with a cold L2, as the side-by-side benches do (sdpa_compare.py, linear_compare.py,
torch_components.py): before every replay a memset of a buffer larger than the L2 (`flush`), CUDA events
around the replay only, three untimed replays first, then samples until `max_time` seconds have passed
(at least `min_samples`, at most `max_samples`); the median is the figure reported."""
import statistics
import time

import torch


def capture(fn):
    """fn captured in a CUDA graph after one warm-up call on a side stream."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g


def time_cold(g, flush, max_time=0.3, min_samples=10, max_samples=200):
    """(median seconds, samples) of one replay of graph g, the L2 flushed before each."""
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(3):
        flush.zero_()
        g.replay()
    torch.cuda.synchronize()
    samples, t0 = [], time.perf_counter()
    while len(samples) < max_samples:
        flush.zero_()
        start.record()
        g.replay()
        stop.record()
        stop.synchronize()
        samples.append(start.elapsed_time(stop) * 1e-3)
        if len(samples) >= min_samples and time.perf_counter() - t0 > max_time:
            break
    return statistics.median(samples), samples


def time_fn_cold(fn, flush, **limits):
    """Median seconds of fn captured in a graph and replayed with a cold L2 (time_cold's limits)."""
    g = capture(fn)
    median, _ = time_cold(g, flush, **limits)
    del g
    return median
