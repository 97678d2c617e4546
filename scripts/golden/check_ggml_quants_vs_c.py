#!/usr/bin/env python3
"""
check_ggml_quants_vs_c.py -- compares ggml_quants.py bit for bit with ggml's own C reference code.

Run:  python3 scripts/golden/check_ggml_quants_vs_c.py GGML_DIR [--stress N] [--cflags "..."]

GGML_DIR is a ggml source tree with include/ggml.h and src/ggml-quants.c: a ggml-org/ggml checkout, or
llama.cpp's ggml/ sub-directory.  Needs gcc (or $CC).  The script compiles the REAL src/ggml-quants.c
(unmodified; asserts enabled) together with ggml_quants_harness.c (which stubs the four ggml symbols the file
references and uses the ggml-impl.h fp16/bf16 inline converters), then, for every type, quantises and
dequantises
  * every input row of the committed fixtures (peft4j-core/src/test/resources/dev/peft4j/io/gguf-quants), and
    checks that the committed quantized_hex / dequantized equal the C output, and
  * N random stress rows per type (several distributions and scales, seeded),
and compares the bytes and the float32 bit patterns with ggml_quants.py.  Exit status 1 on any mismatch.

Default CFLAGS "-O2" (baseline x86-64: no FMA).  With e.g. --cflags "-O2 -march=haswell -ffp-contract=fast"
GCC contracts a*b+c into FMAs inside ggml-quants.c; the report then shows how often such a build differs from
the reference (that build is not the reference; Java never fuses).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ggml_quants as gq  # noqa: E402

FIXTURES = os.path.join(HERE, "..", "..", "peft4j-core", "src", "test", "resources", "dev", "peft4j", "io",
                        "gguf-quants")
ORDER = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]


def build(ggml_dir, work, cflags):
    cc = os.environ.get("CC", "gcc")
    inc = ["-I" + os.path.join(ggml_dir, "include"), "-I" + os.path.join(ggml_dir, "src"),
           "-I" + os.path.join(ggml_dir, "src", "ggml-cpu")]
    obj = os.path.join(work, "ggml-quants.o")
    exe = os.path.join(work, "harness")
    fl = cflags.split()
    subprocess.check_call([cc, "-std=gnu11", *fl, *inc, "-c", os.path.join(ggml_dir, "src", "ggml-quants.c"),
                           "-o", obj])
    subprocess.check_call([cc, "-std=gnu11", *fl, *inc, os.path.join(HERE, "ggml_quants_harness.c"), obj,
                           "-lm", "-o", exe])
    return exe


def run_c(exe, work, t, x):
    fin, fq, fy = (os.path.join(work, s) for s in ("in.f32", "out.q", "out.f32"))
    np.ascontiguousarray(x, dtype="<f4").tofile(fin)
    subprocess.check_call([exe, t, str(x.size), fin, fq, fy])
    with open(fq, "rb") as fh:
        q = fh.read()
    y = np.fromfile(fy, dtype="<f4")
    return q, y


def stress_rows(n_rows, seed):
    rng = np.random.default_rng(seed)
    for k in range(n_rows):
        kind = k % 8
        n = 256 * int(rng.integers(1, 3))
        if kind == 0:
            x = rng.standard_normal(n)
        elif kind == 1:
            x = rng.standard_normal(n) * 10.0 ** rng.uniform(-9, 3)
        elif kind == 2:
            x = rng.uniform(-1, 1, n) * 10.0 ** rng.uniform(-4, 2)
        elif kind == 3:
            x = rng.standard_t(2, n)                                # heavy tails
        elif kind == 4:
            x = np.abs(rng.standard_normal(n)) * rng.choice([-1, 1]) + rng.uniform(-2, 2)   # one-signed-ish
        elif kind == 5:
            x = rng.integers(-16, 17, n) * 0.25                     # many exact ties
        elif kind == 6:
            x = rng.standard_normal(n) * 0.02
            x[rng.integers(0, n, 3)] = rng.uniform(-50, 50, 3)     # outliers
        else:
            x = rng.standard_normal(n) * np.repeat(10.0 ** rng.uniform(-7, 1, n // 16), 16)   # per-16 scales
        yield "stress_%d" % k, np.asarray(x, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ggml_dir")
    ap.add_argument("--stress", type=int, default=200)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--cflags", default="-O2")
    a = ap.parse_args()
    bad = 0
    with tempfile.TemporaryDirectory() as work:
        exe = build(a.ggml_dir, work, a.cflags)
        for t in ORDER:
            fx = os.path.join(FIXTURES, t + ".json")
            rows = []
            committed = {}
            if os.path.exists(fx):
                with open(fx) as fh:
                    obj = json.load(fh)
                tid, bs, ts = gq.TYPES[t]
                assert (obj["type_id"], obj["block_size"], obj["type_size"]) == (tid, bs, ts)
                for r in obj["rows"]:
                    x = np.array([int(h, 16) for h in r["input"]], dtype=np.uint32).view(np.float32)
                    rows.append((r["name"], x))
                    committed[r["name"]] = r
            rows += list(stress_rows(a.stress, a.seed + gq.TYPES[t][0]))
            n_ok = n_bad = 0
            for name, x in rows:
                if x.size % gq.TYPES[t][1]:
                    continue
                qc, yc = run_c(exe, work, t, x)
                qp = gq.quantize(t, x)
                yp = gq.dequantize(t, qp, x.size)
                ok = qc == qp and np.array_equal(yc.view(np.uint32), yp.view(np.uint32))
                if name in committed:
                    r = committed[name]
                    ok = ok and r["quantized_hex"] == qc.hex() and r["dequantized"] == ["%08x" % v for v in
                                                                                       yc.view(np.uint32)]
                if ok:
                    n_ok += 1
                else:
                    n_bad += 1
                    if n_bad <= 3:
                        bs_ = gq.TYPES[t][2]
                        first = next((i for i in range(min(len(qc), len(qp))) if qc[i] != qp[i]), None)
                        print("  MISMATCH %s %s: first differing byte %s (block %s)"
                              % (t, name, first, None if first is None else first // bs_))
            bad += n_bad
            print("%-5s %4d rows bit-identical, %d mismatches  (cflags %s)" % (t, n_ok, n_bad, a.cflags))
    print("ALL BIT-IDENTICAL" if not bad else "MISMATCHES: %d" % bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
