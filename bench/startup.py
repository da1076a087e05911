#!/usr/bin/env python3
"""Start-up cost of kvplan, measured side by side with /bin/true in the same run (docs/startup.md).

For each command: the median wall time of N runs, and the peak RSS of the child (ru_maxrss).
usage: bench/startup.py KVPLAN [N]     (prints a Markdown table; exit 1 if a pass criterion fails)
Pass criteria: `--version` within 1 ms of /bin/true, one `estimate` within 5 ms, peak RSS below 20 MiB.
"""
import os
import statistics
import sys
import time


def measure(argv, n):
    """posix_spawn (no copy of this process) and wait4: the child's own time and peak RSS."""
    times, rss = [], 0
    devnull = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    for _ in range(n):
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        times.append(time.perf_counter() - start)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(argv)} failed")
        rss = max(rss, usage.ru_maxrss)
    os.close(devnull)
    return statistics.median(times), rss / 1024  # ru_maxrss is in KiB on Linux


def main():
    kvplan = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    rows = [("/bin/true", ["/bin/true"]),
            ("kvplan --version", [kvplan, "--version"]),
            ("kvplan estimate -m llama-3.1-8b -g h100", [kvplan, "estimate", "-m", "llama-3.1-8b", "-g", "h100"]),
            ("kvplan estimate ... --engine ideal", [kvplan, "estimate", "-m", "llama-3.1-8b", "-g", "h100", "--engine", "ideal"])]
    results = [(name, *measure(argv, n)) for name, argv in rows]
    base = results[0][1]
    print(f"| command | median wall ms (of {n}) | over /bin/true ms | peak RSS MiB |")
    print("|---|---|---|---|")
    for name, t, rss in results:
        print(f"| `{name}` | {t * 1e3:.2f} | {(t - base) * 1e3:.2f} | {rss:.1f} |")
    version, estimate = results[1], results[2]
    ok = version[1] - base <= 1e-3 and estimate[1] - base <= 5e-3 and max(r[2] for r in results[1:]) < 20
    print("\npass" if ok else "\nfail: a start-up criterion is not met (1 ms --version, 5 ms estimate, 20 MiB)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
