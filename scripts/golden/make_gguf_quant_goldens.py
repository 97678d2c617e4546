#!/usr/bin/env python3
"""
make_gguf_quant_goldens.py -- block-for-block fixtures for ggml's GGUF tensor types, made with the NumPy mirror
of ggml's reference quantisers in ggml_quants.py (bit-identical to ggml-quants.c; see
check_ggml_quants_vs_c.py and README-gguf-quants.md).

Run:  /usr/bin/python3 scripts/golden/make_gguf_quant_goldens.py      (numpy only; deterministic)

Writes peft4j-core/src/test/resources/dev/peft4j/io/gguf-quants/<TYPE>.json for
F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K:

    {"type": "Q4_K", "type_id": 12, "block_size": 256, "type_size": 144,
     "float_encoding": "...", "source": "...",
     "rows": [{"name": "normal_512", "n": 512,
               "input": ["3f800000", ...],          # IEEE float32 bit patterns, 8 lowercase hex digits
               "quantized_hex": "....",             # the tensor bytes exactly as stored in a GGUF file
               "dequantized": ["...", ...]}]}       # dequantize(quantized) as float32 bit patterns

A Java implementation must reproduce quantized_hex from input (quantiser) and dequantized from quantized_hex
(dequantiser), bit for bit.
"""

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ggml_quants as gq  # noqa: E402

OUT_DIR = os.path.join(HERE, "..", "..", "peft4j-core", "src", "test", "resources", "dev", "peft4j", "io",
                       "gguf-quants")

ORDER = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]

LLAMA_CPP_SEMANTICS = ("ggml-org/ggml @ d99724f2b141fed9e1a9f402213506c081433465 (2026-08-21, 'sync : llama.cpp' "
                       "8599e0ea); ggml/src/ggml-quants.c *_ref quantisers and dequantize_row_*, ggml-impl.h "
                       "fp16/bf16 converters")


def _bits_hex(a):
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float32).reshape(-1))
    return ["%08x" % int(b) for b in a.view(np.uint32)]


def _from_bits(lst):
    return np.array(lst, dtype=np.uint32).view(np.float32)


def make_rows():
    """The shared inputs (identical for every block type). Deterministic: PCG64 seed 20260821."""
    rng = np.random.default_rng(20260821)
    rows = []

    # 1. plain N(0,1) data, two K super-blocks / sixteen 32-blocks
    rows.append(("normal_512", rng.standard_normal(512).astype(np.float32)))

    # 2. weight-like data (std 0.02) with one large outlier and one negative outlier in another block
    x = (rng.standard_normal(256) * 0.02).astype(np.float32)
    x[37] = np.float32(3.75)
    x[200] = np.float32(-1.5)
    rows.append(("outlier_256", x))

    # 3. all zeros (d = 0 paths; Q4_0 stores nibble 8, Q6_K an all-zero block)
    rows.append(("zeros_256", np.zeros(256, dtype=np.float32)))

    # 4. tiny values ~1e-8: the fp16 scales underflow to 0 or to fp16 subnormals while the float32 scale
    #    used for quantising does not
    rows.append(("tiny_256", (rng.standard_normal(256) * 1e-8).astype(np.float32)))

    # 5. negative-only values (max is the most negative value; K-quant mins are non-zero)
    rows.append(("negative_256", (-np.abs(rng.standard_normal(256)) * 0.1 - 0.01).astype(np.float32)))

    # 6. one K super-block whose 32-value sub-blocks have very different magnitudes, including an
    #    all-positive sub-block (K-quant min clamped to 0), a constant sub-block (max == min), a sub-block of
    #    +0/-0 and a sub-block of mixed tiny/large values
    x = np.empty(256, dtype=np.float32)
    scales = [1e-3, 0.05, 1.0, 7.5]
    for j in range(4):
        x[32 * j:32 * j + 32] = rng.standard_normal(32) * scales[j]
    x[128:160] = np.abs(rng.standard_normal(32)) * 0.3 + 0.2          # all positive
    x[160:192] = np.float32(0.125)                                   # constant
    x[192:224] = np.where(np.arange(32) % 2 == 0, 0.0, -0.0)         # +0 / -0
    y = rng.standard_normal(32) * 1e-6
    y[5] = 2.0
    x[224:256] = y
    rows.append(("superblock_256", x.astype(np.float32)))

    # 7. half-integer ties: every 32-block has max |x| = 127 exactly, so Q8_0's d = 1 and x*id = x, and roundf
    #    sees exact .5 ties (round half AWAY from zero: -2.5 -> -3, unlike Java Math.round)
    t = rng.integers(-254, 255, size=256).astype(np.float32) * np.float32(0.5)
    t[0::32] = np.float32(127.0)
    t[16::32] = np.float32(-2.5)
    t[17::32] = np.float32(2.5)
    t[18::32] = np.float32(-0.5)
    rows.append(("ties_256", t))
    return rows


def special_row():
    """Edge values for F32/F16/BF16 only (32 values)."""
    f = np.float32
    vals = [
        0x00000000, 0x80000000,                  # +0, -0
        0x3f800000, 0xbf800000,                  # 1, -1
        0x477fe000,                              # 65504 = fp16 max
        0x477fefff,                              # just below 65520: rounds to 65504
        0x477ff000,                              # 65520: rounds (ties-to-even) to +inf in fp16
        0xc77ff000,                              # -65520 -> -inf
        0x33800000,                              # 2^-24 = smallest fp16 subnormal
        0x33000000,                              # 2^-25: tie between 0 and 2^-24 -> 0 (even)
        0x33000001,                              # just above 2^-25 -> 2^-24
        0x33c00000,                              # 1.5 * 2^-24: tie -> 2^-23 (even)
        0x38800000,                              # 2^-14 = smallest fp16 normal
        0x387fc000,                              # largest fp16 subnormal
        0x3f801000,                              # 1 + 2^-11: fp16 tie -> 1.0
        0x3f803000,                              # 1 + 3*2^-11: fp16 tie -> 1 + 2^-9 (even)
        0x3f808000,                              # 1 + 2^-8: bf16 tie -> 1.0
        0x3f818000,                              # 1 + 3*2^-8: bf16 tie -> up
        0x3f80ffff,                              # above the bf16 tie: rounds up to 0x3f81
        0x7f7fffff,                              # FLT_MAX: bf16 rounds to +inf, fp16 +inf
        0x00800000,                              # FLT_MIN
        0x00000001,                              # smallest float32 denormal (bf16 keeps it: 0x0000)
        0x0001ffff,                              # float32 denormal: bf16 rounds to 0x0002
        0x7f800000, 0xff800000,                  # +inf, -inf
        0x7fc00000,                              # quiet NaN
        0x7f800001,                              # signalling NaN, payload 1: fp16 -> 0x7e00, bf16 -> 0x7fc0
        0xffa12345,                              # negative sNaN with payload: fp16 -> 0xfe00, bf16 -> 0xffe1
        0x7fe00000,                              # quiet NaN with payload bit
        0x40490fdb,                              # pi
        0xc2f6e979,                              # -123.456
        0x3f807fff,                              # just below the bf16 tie: rounds down to 0x3f80
    ]
    assert len(vals) == 32
    return ("special_32", np.array(vals, dtype=np.uint32).view(f))


def build(type_name, rows):
    tid, bs, ts = gq.TYPES[type_name]
    out_rows = []
    for name, x in rows:
        if x.size % bs:
            continue
        q = gq.quantize(type_name, x)
        y = gq.dequantize(type_name, q, x.size)
        # lossless round trip of the stored encodings
        assert np.array_equal(_from_bits([int(h, 16) for h in _bits_hex(x)]).view(np.uint32), x.view(np.uint32))
        out_rows.append({"name": name, "n": int(x.size), "input": _bits_hex(x), "quantized_hex": q.hex(),
                         "dequantized": _bits_hex(y)})
    return {
        "type": type_name, "type_id": tid, "block_size": bs, "type_size": ts,
        "float_encoding": "each float is its IEEE-754 float32 bit pattern as 8 lowercase hex digits",
        "quantized_encoding": "lowercase hex of the tensor bytes exactly as stored in a GGUF file (little-endian)",
        "source": LLAMA_CPP_SEMANTICS,
        "rows": out_rows,
    }


def dump(obj):
    """compact JSON, one row per line (stable, diff-friendly)"""
    head = {k: v for k, v in obj.items() if k != "rows"}
    s = json.dumps(head, separators=(",", ":"))[:-1]
    s += ',\n"rows":[\n' + ",\n".join(json.dumps(r, separators=(",", ":")) for r in obj["rows"]) + "\n]}\n"
    return s


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    rows = make_rows()
    total = 0
    for t in ORDER:
        r = rows + ([special_row()] if t in ("F32", "F16", "BF16") else [])
        obj = build(t, r)
        text = dump(obj)
        assert json.loads(text) == obj
        path = os.path.join(OUT_DIR, t + ".json")
        with open(path, "w") as fh:
            fh.write(text)
        total += len(text)
        print("%-5s %d rows  %7d bytes  %s" % (t, len(obj["rows"]), len(text), os.path.relpath(path)))
    print("total %d bytes" % total)


if __name__ == "__main__":
    main()
