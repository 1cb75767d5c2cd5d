#!/usr/bin/env python3
"""Prints the ninja targets that the tests selected by meson-test suite arguments need.

Usage: test-targets.py BUILDDIR [--suite S | --no-suite S | other meson test args]...
Lets scripts/test.sh build only what a sanitizer step runs (then `meson test
--no-rebuild`), instead of the whole tree."""
import json
import os
import subprocess
import sys


def introspect(builddir, what):
    out = subprocess.run(["meson", "introspect", what, builddir], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    builddir, args = sys.argv[1], sys.argv[2:]
    include, exclude = set(), set()
    for flag, value in zip(args, args[1:]):
        if flag == "--suite":
            include.add(value)
        elif flag == "--no-suite":
            exclude.add(value)
    project = introspect(builddir, "--projectinfo")["descriptive_name"]

    def suites(test):  # meson names suites "project:suite"; accept either form
        out = set()
        for s in test["suite"]:
            out.add(s)
            out.add(s.split(":", 1)[-1])
        return out

    wanted = set()
    for test in introspect(builddir, "--tests"):
        s = suites(test)
        if include and not (s & include):
            continue
        if s & exclude:
            continue
        wanted.update(test.get("depends", []))
    root = os.path.abspath(builddir)
    targets = []
    for target in introspect(builddir, "--targets"):
        if target["id"] in wanted:
            targets += [os.path.relpath(f, root) for f in target["filename"]]
    if not targets:
        sys.exit(f"test-targets.py: no test in {builddir} matches {args} (project {project})")
    print("\n".join(sorted(targets)))


if __name__ == "__main__":
    main()
