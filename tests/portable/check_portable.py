#!/usr/bin/env python3
"""Checks that a library built without -march=native runs on any x86-64 CPU: AVX,
AVX-512 and SSE4.2 instructions may appear only in the runtime-dispatched kernels
(lib/index/kernels_*.cc, and the SSE4.2 CRC-32C), which run only after a CPU check.

Usage: check_portable.py LIBRARY
Prints each offending function and exits 1 if there is one.
"""
import re
import subprocess
import sys

# Functions allowed to use instructions beyond baseline x86-64 (they run after a CPU check).
ALLOWED = re.compile(r"vectron::kernels::\w+(Avx2|Avx512|Avx512Vnni)\(|vectron::Crc32cSse42\(")
# ymm/zmm registers, AVX-512 mask registers, FMA, VNNI and crc32: never baseline.
WIDE = re.compile(r"%[yz]mm\d+|%k[1-7]\b|\bvfmadd|\bvpdpbusd|\bcrc32[bwlq]?\b")


def main():
    lib = sys.argv[1]
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", lib], check=True,
                         capture_output=True, text=True).stdout
    fn, bad, checked = None, {}, 0
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            fn = m.group(1)
            continue
        if fn and WIDE.search(line):
            checked += 1
            if not ALLOWED.search(fn):
                bad.setdefault(fn, line.strip())
    for fn, line in sorted(bad.items()):
        print(f"not portable: {fn}: {line}")
    print(f"{checked} wide instructions, {len(bad)} functions outside the dispatched kernels")
    if checked == 0:
        print("no kernel instructions found: is this the right library?")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
