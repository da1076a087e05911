#!/usr/bin/env python3
"""Checks the man page scripts/gen-man.py writes: the .TH line and sections in order, one entry per
subcommand of `kvplan --help` with its options, text lines escaped (no leading control character,
no bare hyphen or unknown escape), and, where groff is installed, no groff warning and a rendering
that shows every subcommand.
Usage: tests/man_test.py BUILD/kvplan scripts/gen-man.py
"""
import re
import shutil
import subprocess
import sys
import tempfile

MACROS = {".TH", ".SH", ".SS", ".TP", ".PP", ".RS", ".RE", ".B", ".I", ".br", ".nh", ".ad", '.\\"'}
ESCAPE = re.compile(r"\\(?:-|e|&|f[BIR]|\(aq|\(ga)")
failures = []


def check(ok: bool, what: str) -> None:
    if not ok:
        failures.append(what)


def main() -> int:
    kvplan, gen_man = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        page = f"{tmp}/kvplan.1"
        subprocess.run([sys.executable, gen_man, kvplan, page], check=True)
        text = open(page).read()
    lines = text.splitlines()
    env = {"KVPLAN_DATA_DIR": ""}
    help_text = subprocess.run([kvplan, "--help"], capture_output=True, text=True, env=env).stdout
    subcommands = [l.split()[0] for l in help_text.split("Subcommands:\n", 1)[-1].splitlines() if l.strip()]
    check(len(subcommands) >= 10, f"too few subcommands in kvplan --help: {subcommands}")

    check(any(re.fullmatch(r'\.TH KVPLAN 1 "[^"]*" "kvplan [0-9.]+" "User Commands"', l) for l in lines[:3]),
          "no .TH KVPLAN 1 line at the top")
    sections = [l[4:] for l in lines if l.startswith(".SH ")]
    want = ["NAME", "SYNOPSIS", "DESCRIPTION", "SUBCOMMANDS", "EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"]
    check(sections == want, f"sections {sections}, want {want}")
    entries = [l[4:] for l in lines if l.startswith(".SS ")]
    check(entries == ["Options"] + subcommands, f"subsections {entries}, want Options and {subcommands}")
    for sub in subcommands:
        sub_help = subprocess.run([kvplan, sub, "--help"], capture_output=True, text=True, env=env).stdout
        for option in re.findall(r"--[a-z][a-z0-9-]*", sub_help):
            check(option.replace("-", "\\-") in text, f"{sub}: {option} missing")
    for status in ["0", "1", "2", "3", "4", "70", "74"]:
        check(f".B {status}" in lines, f"exit status {status} missing")

    for n, line in enumerate(lines, 1):
        if line.startswith((".", "'")):
            check(line.split(" ")[0] in MACROS, f"line {n}: unknown request {line.split(' ')[0]!r}")
            if not line.startswith((".TH", '.\\"')):
                line = line.split(" ", 1)[1] if " " in line else ""
            else:
                continue
        bare = ESCAPE.sub("", line)
        check("\\" not in bare, f"line {n}: unknown escape: {line!r}")
        check("-" not in bare, f"line {n}: hyphen not written as \\-: {line!r}")

    if shutil.which("groff"):
        with tempfile.NamedTemporaryFile("w", suffix=".1") as f:
            f.write(text)
            f.flush()
            lint = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", f.name], capture_output=True, text=True)
            check(lint.returncode == 0 and not lint.stderr, f"groff -ww: {lint.stderr.strip()}")
            shown = subprocess.run(["groff", "-man", "-Tutf8", "-P-c", f.name], capture_output=True, text=True).stdout
        shown = re.sub(".\b", "", shown).replace("\u2010", "-").replace("\u2212", "-")
        for sub in subcommands:
            check(f"\n   {sub}\n" in shown, f"groff rendering: no entry for {sub}")
        check("--data-dir" in shown, "groff rendering: no --data-dir")
    else:
        print("skip groff: not installed (roff structure checked only)")

    for f in failures:
        print("FAIL", f)
    if not failures:
        print(f"man page: {len(subcommands)} subcommands, all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
