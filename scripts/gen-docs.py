#!/usr/bin/env python3
"""Regenerates the command output shown in README.md and docs/*.md from the real binary.

A block in a markdown file reads

    <!-- kvplan: estimate --model llama-3.1-8b --gpu h100 -->
    ...anything (replaced)...
    <!-- end -->

and becomes a console block with the command and its exact output. A plot block reads

    <!-- kvplan-plot: sweep -m llama-3.1-8b -g h100 -c 1k..1M:x2 -b 1 --plot docs/img/x.svg -->
    ...anything (replaced)...
    <!-- end -->

and becomes the command and the picture: the command writes docs/img/x.svg, which rsvg-convert
(Debian librsvg2-bin, scripts/install-deps.sh) renders to docs/img/x.png.

With --check, nothing is written and the exit status says whether every block is up to date (run
by CTest, so the docs cannot go stale): the plots are written to a pipe and compared with the SVGs
in docs/img/; the PNGs are only checked to exist, so the check needs no rsvg-convert.
Usage: scripts/gen-docs.py BUILD/kvplan [--check]
"""
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

BLOCK = re.compile(r"(<!-- kvplan: (?P<args>.*?) -->\n)(?P<body>.*?)(<!-- end -->)", re.S)
PLOT_BLOCK = re.compile(r"(<!-- kvplan-plot: (?P<args>.*?) -->\n)(?P<body>.*?)(<!-- end -->)", re.S)
ENV = {"PATH": "/usr/bin:/bin", "KVPLAN_DATA_DIR": ""}


def render(kvplan: str, args: str, root: pathlib.Path) -> str:
    run = subprocess.run([kvplan, *shlex.split(args)], cwd=root, capture_output=True, text=True, env=ENV)
    out = run.stdout + run.stderr
    return f"```console\n$ kvplan {args}\n{out}```\n"


def plot_path(args: str) -> str:
    words = shlex.split(args)
    if "--plot" not in words or words.index("--plot") + 1 >= len(words):
        sys.exit(f"gen-docs: a kvplan-plot block needs --plot docs/img/NAME.svg: {args}")
    svg = words[words.index("--plot") + 1]
    if not (svg.startswith("docs/img/") and svg.endswith(".svg")):
        sys.exit(f"gen-docs: plots go to docs/img/NAME.svg, not {svg}")
    return svg


def plot_markdown(args: str) -> str:
    png = plot_path(args)[len("docs/"):-len(".svg")] + ".png"
    return f"```console\n$ kvplan {args} > /dev/null\n```\n\n![{pathlib.Path(png).stem}]({png})\n"


def write_plot(kvplan: str, args: str, root: pathlib.Path) -> None:
    """Runs the block's command, then renders its SVG to the PNG next to it."""
    svg = plot_path(args)
    run = subprocess.run([kvplan, *shlex.split(args)], cwd=root, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, env=ENV)
    if run.returncode != 0:
        sys.exit(f"gen-docs: kvplan {args}: {run.stderr.strip()}")
    rsvg = shutil.which("rsvg-convert")
    if rsvg is None:
        sys.exit("gen-docs: rsvg-convert is missing (Debian librsvg2-bin; scripts/install-deps.sh)")
    subprocess.run([rsvg, "-o", svg[:-len(".svg")] + ".png", svg], cwd=root, check=True)


def plot_is_current(kvplan: str, args: str, root: pathlib.Path) -> bool:
    """Whether the block's SVG is what the binary writes now: the plot goes to a pipe, not a file."""
    svg = plot_path(args)
    read_end, write_end = os.pipe()
    words = shlex.split(args)
    words[words.index("--plot") + 1] = f"/dev/fd/{write_end}"
    proc = subprocess.Popen([kvplan, *words], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=ENV, pass_fds=(write_end,))
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        fresh = pipe.read()
    if proc.wait() != 0:
        return False
    png = root / (svg[:-len(".svg")] + ".png")
    return png.is_file() and (root / svg).is_file() and (root / svg).read_bytes() == fresh


def main() -> int:
    kvplan = str(pathlib.Path(sys.argv[1]).resolve())
    check = "--check" in sys.argv[2:]
    root = pathlib.Path(__file__).resolve().parent.parent
    stale = []
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text = path.read_text()
        new = BLOCK.sub(lambda m: m.group(1) + render(kvplan, m.group("args"), root) + m.group(4), text)
        new = PLOT_BLOCK.sub(lambda m: m.group(1) + plot_markdown(m.group("args")) + m.group(4), new)
        if new != text:
            stale.append(path.relative_to(root))
            if not check:
                path.write_text(new)
        # The plots, after the text: a gallery of each plot kind lives in docs/plots.md.
        for m in PLOT_BLOCK.finditer(new):
            if check:
                if not plot_is_current(kvplan, m.group("args"), root):
                    stale.append(plot_path(m.group("args")))
            else:
                write_plot(kvplan, m.group("args"), root)
    if check and stale:
        print("out of date (run scripts/gen-docs.py build/kvplan):", ", ".join(map(str, stale)))
        return 1
    print(("checked" if check else "regenerated"), "command output and plots in README.md and docs/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
