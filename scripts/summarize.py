#!/usr/bin/env python3
"""Sums test results over meson test logs into one line: 'N passed, N failed, N skipped'.

A doctest binary contributes its own case counts (from its '[doctest] test cases:'
line); pytest its summary; a log with a plain "NAME: N passed, N failed, N skipped"
line (scripts/test-console.sh) its last such line; any other test counts as one by its
meson result."""
import json
import re
import sys

DOCTEST = re.compile(r"\[doctest\] test cases:\s*(\d+) \|\s*(\d+) passed \|\s*(\d+) failed \|\s*(\d+) skipped")
PYTEST = re.compile(r"=+ (.*) in [\d.]+s")
PLAIN = re.compile(r"^(?:[\w-]+: )?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$", re.M)


def main(paths):
    passed = failed = skipped = 0
    for path in paths:
        try:
            lines = open(path).read().splitlines()
        except OSError:
            print(f"summarize: {path} missing (suite did not run)", file=sys.stderr)
            failed += 1
            continue
        for line in lines:
            t = json.loads(line)
            out = t.get("stdout") or t.get("stdo") or ""
            result = t.get("result", "")
            m = DOCTEST.findall(out)
            py = PYTEST.findall(out)
            plain = PLAIN.findall(out)
            if m and result not in ("TIMEOUT",):
                # doctest's "skipped" counts cases filtered out by --test-case; not skips.
                _, p, f, _ = (int(x) for x in m[-1])
                s = 0
                # A crash after the summary (or a failing exit) still counts as a failure.
                if result not in ("OK", "SKIP") and f == 0:
                    f = 1
                passed, failed, skipped = passed + p, failed + f, skipped + s
            elif py and result != "TIMEOUT":
                counts = dict((k, int(n)) for n, k in re.findall(r"(\d+) (\w+)", py[-1]))
                p, f = counts.get("passed", 0), counts.get("failed", 0) + counts.get("errors", 0) + counts.get("error", 0)
                if result not in ("OK", "SKIP") and f == 0:
                    f = 1
                passed, failed, skipped = passed + p, failed + f, skipped + counts.get("skipped", 0)
            elif plain and result != "TIMEOUT":
                p, f, s = (int(x or 0) for x in plain[-1])
                if result not in ("OK", "SKIP") and f == 0:
                    f = 1
                passed, failed, skipped = passed + p, failed + f, skipped + s
            elif result == "OK":
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
            if result not in ("OK", "SKIP"):
                print(f"FAILED: {t.get('name')} ({result}) in {path}", file=sys.stderr)
                # The log is gone with the CI machine: show what the test said last.
                said = (out + "\n" + (t.get("stderr") or "")).splitlines()
                errs = [l for l in said if re.match(r"(E |FAILED |ERROR |_+ test|.*(Error|Sanitizer))", l)]
                for l in errs[:40] + ["..."] + said[-25:]:
                    print(f"  | {l[:300]}", file=sys.stderr)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
