#!/usr/bin/python3
"""pyzfs side of snapshot-bench (run in the lab guest with Debian's python3-pyzfs).

Usage: pyzfs_bench.py MODE [BATCH] < names (one snapshot name per line)

MODE:
  snapshot   one lzc_snapshot call with every name (the batch case)
  seq        one lzc_snapshot call per name, sequentially
  destroy    lzc_destroy_snaps(defer=False) in chunks of BATCH names (all at once if BATCH is 0)

Prints one JSON line: {"import_s": seconds to import libzfs_core, "call_s": seconds spent in
the lzc calls only (time.perf_counter around them), "calls": number of lzc calls}. Interpreter
start, reading stdin and exit are outside both; the caller measures the whole process.
"""

import json
import sys
import time

t0 = time.perf_counter()
import libzfs_core as lzc  # noqa: E402 (the import is timed)

import_s = time.perf_counter() - t0


def main():
    mode = sys.argv[1]
    names = [line.strip().encode() for line in sys.stdin if line.strip()]
    calls = 0
    if mode == "snapshot":
        t = time.perf_counter()
        lzc.lzc_snapshot(names)
        call_s = time.perf_counter() - t
        calls = 1
    elif mode == "seq":
        t = time.perf_counter()
        for n in names:
            lzc.lzc_snapshot([n])
        call_s = time.perf_counter() - t
        calls = len(names)
    elif mode == "destroy":
        batch = int(sys.argv[2]) if len(sys.argv) > 2 else 0
        batch = batch if batch > 0 else max(len(names), 1)
        chunks = [names[i:i + batch] for i in range(0, len(names), batch)]
        t = time.perf_counter()
        for c in chunks:
            lzc.lzc_destroy_snaps(c, False)
        call_s = time.perf_counter() - t
        calls = len(chunks)
    else:
        sys.exit("unknown mode %r" % mode)
    print(json.dumps({"import_s": import_s, "call_s": call_s, "calls": calls}))


main()
