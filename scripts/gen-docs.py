#!/usr/bin/env python3
"""Regenerates the command output shown in README.md and docs/*.md from the real binary.

A block in a markdown file reads

    <!-- kvplan: estimate --model llama-3.1-8b --gpu h100 -->
    ...anything (replaced)...
    <!-- end -->

and becomes a console block with the command and its exact output. With --check, nothing is
written and the exit status says whether every block is up to date (run by CTest, so the docs
cannot go stale).
Usage: scripts/gen-docs.py BUILD/kvplan [--check]
"""
import pathlib
import re
import shlex
import subprocess
import sys

BLOCK = re.compile(r"(<!-- kvplan: (?P<args>.*?) -->\n)(?P<body>.*?)(<!-- end -->)", re.S)


def render(kvplan: str, args: str, root: pathlib.Path) -> str:
    env = {"PATH": "/usr/bin:/bin", "KVPLAN_DATA_DIR": ""}
    run = subprocess.run([kvplan, *shlex.split(args)], cwd=root, capture_output=True, text=True, env=env)
    out = run.stdout + run.stderr
    return f"```console\n$ kvplan {args}\n{out}```\n"


def main() -> int:
    kvplan = str(pathlib.Path(sys.argv[1]).resolve())
    check = "--check" in sys.argv[2:]
    root = pathlib.Path(__file__).resolve().parent.parent
    stale = []
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text = path.read_text()
        new = BLOCK.sub(lambda m: m.group(1) + render(kvplan, m.group("args"), root) + m.group(4), text)
        if new != text:
            stale.append(path.relative_to(root))
            if not check:
                path.write_text(new)
    if check and stale:
        print("out of date (run scripts/gen-docs.py build/kvplan):", ", ".join(map(str, stale)))
        return 1
    print(("checked" if check else "regenerated"), "command output in README.md and docs/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
