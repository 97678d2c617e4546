#!/usr/bin/env python3
"""
make_nf4_goldens.py -- bit-exact fixtures for bitsandbytes' NF4 (QLoRA) quantisation, its double
quantisation of the absmax values, the 8-bit blockwise "dynamic map" stage, LLM.int8-style row-wise int8,
and the safetensors layout bnb/transformers use for a 4-bit Linear.

Run:  /usr/bin/python3 scripts/golden/make_nf4_goldens.py        (PyTorch 1.13 + numpy; no bitsandbytes)

Writes peft4j-core/src/test/resources/golden/nf4/
    cases.safetensors    every case's tensors (names below), plus map.nf4 [16] and map.dynamic [256] (F32)
    bnb_layout.safetensors   two Linear4bit weights exactly as bnb's Linear4bit._save_to_state_dict writes them
    nf4_code.json        the NF4 table (bnb's literals), the 15 thresholds, the dynamic map(s), blocksizes,
                         per-case metadata (shape, n, blocks, offset, bnb quant_state JSON), robustness counts
    README.md            what each case exercises
All float math is IEEE float32 done with numpy float32 scalars/arrays (no fused multiply-add), so a Java
implementation with float arithmetic reproduces every bit. The script re-reads its own files and checks itself;
rerunning it rewrites identical bytes.

THE RULES (bitsandbytes source, as stored in the public bitsandbytes-foundation/bitsandbytes repository)
-----------------------------------------------------------------------------------------------------
NF4 table: bitsandbytes/functional.py get_4bit_type("nf4"): 16 python float literals -> torch.tensor (f32),
  then data.div_(data.abs().max()) (a division by 1.0, no change). Index 7 is 0.0, 0 is -1.0, 15 is 1.0.
quantize_4bit (functional.py) -> torch.ops.bitsandbytes.quantize_4bit; CUDA: backends/cuda/ops.py ->
  cquantize_blockwise_{fp32,bf16,fp16}_nf4 -> kQuantizeBlockwise<T, blocksize, ..., NF4>
  (csrc/kernels.cu, later csrc/cuda/blockwise_quantization.cu):
  * flat input, blocks of `blocksize` (default 64) values; the last block may be short. absmax[b] =
    max |x| over the block's real values (BlockReduce over valid_items; f32, exact). The tail is loaded
    padded with 0.
  * scale: smem_absmax_value = 1.0f / absmax (a reciprocal), each value is x * (1/absmax) -- a multiply by
    the f32 reciprocal, not a division.
  * dQuantizeNF4(x): a 4-level comparison tree against 15 f32 literals (the double midpoints of neighbouring
    table values), every test `x > t`.  => a value exactly equal to a threshold gets the LOWER code; NaN fails
    every test and gets code 0 (-1.0).
  * packing: qvals[j] = dQuantizeNF4(v[2j]) << 4 | dQuantizeNF4(v[2j+1]) -- the FIRST element of each pair
    is the HIGH nibble; (valid_items+1)/2 bytes per block; for odd n the last low nibble is the code of the
    zero padding (0 * (1/absmax) = 0 -> code 7, or code 0 when the block's absmax is 0).
  * out = uint8 tensor of shape ((n+1)//2, 1), absmax f32 [ceil(n/blocksize)].
  * all-zero block: 1/0 = inf, 0*inf = NaN -> code 0 for every element, absmax 0; dequant -1.0*0 = -0.0.
dequantize_4bit -> kDequantizeBlockwise<T, ..., NF4>: out = dDequantizeNF4(q) * absmax[block] -- one f32 product
  (for a bf16/f16 output dtype that product is then rounded to the output type; RNE).
compress_statistics=True (double quant, QLoRA's bnb_4bit_use_double_quant), functional.py quantize_4bit:
      offset = _absmax.mean()                                  (f32 torch mean)
      qabsmax, state2 = quantize_blockwise(_absmax - offset, blocksize=256)      (code = dynamic map)
  quantize_blockwise -> kQuantizeBlockwise<float, 256, 2, 0, General8bit>: per 256 values absmax2 = max|v|,
  v * (1.0f/absmax2), dQuantize<0>(code, x): binary search from pivot 127 (steps 64..1, `x > code[pivot]`
  moves up), then compare with the f32 midpoint (upper + val) * 0.5f / (lower + val) * 0.5f: going up needs
  `x > midpoint`, going down needs `x < midpoint`, so an exact midpoint keeps the pivot (the EVEN index: the last
  pivot of the search is always even). Codes uint8 [blocks], nested absmax f32 [ceil(blocks/256)].
  dequantize_4bit with a nested state: absmax = dequantize_blockwise(qabsmax, state2) (code[q] * absmax2, one f32
  product), absmax += offset (f32 add), then the NF4 dequant above.
create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8) (functional.py): for i in 0..6:
  boundaries = torch.linspace(0.1, 1, 2**i + 1) (f32), means = (b[:-1] + b[1:]) / 2.0, values
  (10 ** (i-6)) * means and (-(10 ** (i-6))) * means (the python scalar is rounded to f32 by torch, one f32
  product); plus 0 and 1.0; sorted -> 256 f32, [0] = -0.99296875, [127] = 0, [255] = 1.0.
  !! torch.linspace's f32 output differs between torch versions / CPU kernels (vectorised or not, FMA), so the
  map differs in the last 1-2 ulps of a few dozen entries between environments (see nf4_code.json
  "dynamic_map_variants"). The map actually used travels with every checkpoint (weight.nested_quant_map), and
  bnb dequantises with that stored map. The fixtures use map.dynamic = the current ATen CPU linspace formula
  (scalar, no vectorisation: start + step*k for k < steps/2, end - step*(steps-1-k) above, step = (end-start)/
  (steps-1), all f32, no FMA); this torch 1.13's own vectorised linspace gives 44 different entries.
Other bnb paths (NOT the rule of the fixtures; the script proves they agree on every non-tie element here):
  * pure-torch fallback (backends/default/ops.py, used on CPU by bnb >= 0.45): scaled = clamp(A * (1/absmax),
    -1, 1), code = argmin |scaled - table| (first index on ties); some versions divide A / absmax instead.
  * native CPU 8-bit (csrc/cpu_ops.cpp quantize_cpu + csrc/common.cpp quantize_block): code[0] is overwritten
    with -1.0 IN PLACE (the caller's map tensor, which is then also saved as nested_quant_map!), x = A / absmax
    (a division), BinSearch for the left neighbour, then `dist_right < dist_left` picks the right one: ties go
    to the LOWER index.
  * CUDA is compiled with --use_fast_math: 1.0f / absmax may be an approximate reciprocal (rcp.approx), so
    values within ~1 ulp of a threshold could differ on a GPU. Every non-designed element in these fixtures keeps
    its code when the reciprocal moves by +-1 ulp (checked); the designed tie cases use power-of-two absmax,
    whose reciprocal is exact.
Offset: torch's f32 mean depends on the summation order (device, vector width). The fixtures use the exact
  mean rounded once to f32 (= (float)(double sum / n) for these inputs, checked), and store it; a test that wants
  to reproduce a given bnb state bit for bit should take the stored offset.
Serialised layout (Linear4bit._save_to_state_dict -> QuantState.as_dict(packed=True), functional.py): keys
  <prefix>weight (uint8 [(n+1)//2, 1]), weight.absmax (f32 [blocks], or uint8 [blocks] when nested),
  weight.quant_map (f32 [16]), weight.nested_absmax (f32 [ceil(blocks/256)]), weight.nested_quant_map
  (f32 [256]), weight.quant_state.bitsandbytes__nf4 (uint8 bytes of json.dumps of {quant_type, blocksize,
  dtype, shape, [nested_blocksize, nested_dtype, nested_offset]} in that order, default separators ", " ": ";
  dtype is str(torch.dtype).strip("torch."): "float32", "bfloat16", "float16"). QuantState.from_dict reads it back.
LLM.int8-style (backends/default/ops.py int8_vectorwise_quant / int8_vectorwise_dequant):
  row_stats = max |row| (f32); q = torch.round(A * (127.0 / row_stats)) (f32 division then f32 multiply, round
  half to even), int8; dequant = q * row_stats * 7.874015718698502e-3 (f32 products, the literal rounded to f32).
  The CUDA kernel kInt8VectorQuant uses __fdividef(127, absmax) (approximate): exact .5 ties may differ there.

CASES (tensor names "<case>.<what>", all little-endian, row-major)
    .input F32, .packed U8 [(n+1)//2], .absmax F32 [blocks], .dequant F32 (plain absmax),
    .dq.absmax_u8 U8 [blocks], .dq.nested_absmax F32 [ceil(blocks/256)], .dq.offset F32 [1],
    .dq.absmax F32 [blocks] (the dequantised absmax), .dq.dequant F32 (NF4 through the dequantised absmax)
  see the CASES list below and README.md for what each one holds.
"""
import hashlib
import json
import struct
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

sys.dont_write_bytecode = True

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "peft4j-core" / "src" / "test" / "resources" / "golden" / "nf4"
f32 = np.float32

# ----------------------------------------------------------------------------------------------------
# tables, as written in bitsandbytes

# functional.py get_4bit_type("nf4")
NF4_LITERALS = [
    "-1.0", "-0.6961928009986877", "-0.5250730514526367", "-0.39491748809814453",
    "-0.28444138169288635", "-0.18477343022823334", "-0.09105003625154495", "0.0",
    "0.07958029955625534", "0.16093020141124725", "0.24611230194568634", "0.33791524171829224",
    "0.44070982933044434", "0.5626170039176941", "0.7229568362236023", "1.0",
]
NF4 = np.array([float(s) for s in NF4_LITERALS], dtype=np.float32)

# csrc/kernels.cu dQuantizeNF4, in ascending order; THRESHOLDS[j] separates code j and j+1
NF4_THRESHOLD_LITERALS = [
    "-0.8480964004993439", "-0.6106329262256622", "-0.4599952697753906", "-0.33967943489551544",
    "-0.23460740596055984", "-0.13791173323988914", "-0.045525018125772476", "0.03979014977812767",
    "0.1202552504837513", "0.2035212516784668", "0.2920137718319893", "0.3893125355243683",
    "0.5016634166240692", "0.6427869200706482", "0.8614784181118011",
]
def f32_of_decimal(text):
    """The f32 nearest to the decimal literal, rounded once (as a C compiler reads `0.123f`), ties to even —
    not decimal -> double -> f32, which rounds twice and is 1 ulp off for some of these literals."""
    from fractions import Fraction
    exact = Fraction(text)
    f = np.float32(float(exact))
    cands = [np.nextafter(f, np.float32(-np.inf)), f, np.nextafter(f, np.float32(np.inf))]
    return min(cands, key=lambda c: (abs(Fraction(float(c)) - exact), int(np.array(c, dtype=np.float32).view(np.uint32)) & 1))


THR = np.array([f32_of_decimal(s) for s in NF4_THRESHOLD_LITERALS], dtype=np.float32)  # the C `f` suffix: f32, rounded once


def dquantize_nf4(x):
    """dQuantizeNF4 of csrc/kernels.cu, literally (x: f32 scalar)."""
    t = THR
    if x > t[7]:
        if x > t[11]:
            if x > t[13]:
                return 0b1111 if x > t[14] else 0b1110
            return 0b1101 if x > t[12] else 0b1100
        if x > t[9]:
            return 0b1011 if x > t[10] else 0b1010
        return 0b1001 if x > t[8] else 0b1000
    if x > t[3]:
        if x > t[5]:
            return 0b0111 if x > t[6] else 0b0110
        return 0b0101 if x > t[4] else 0b0100
    if x > t[1]:
        return 0b0011 if x > t[2] else 0b0010
    return 0b0001 if x > t[0] else 0b0000


# ----------------------------------------------------------------------------------------------------
# the dynamic map

def linspace_scalar(start, end, steps):
    """ATen's CPU linspace kernel without vectorisation (current PyTorch), all f32, no FMA."""
    s, e = f32(start), f32(end)
    step = (e - s) / f32(steps - 1)
    half = steps // 2
    return np.array([s + step * f32(k) if k < half else e - step * f32(steps - k - 1) for k in range(steps)],
                    dtype=np.float32)


def fma32(a, b, c):
    return f32(float(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))))


def linspace_torch113_avx2(start, end, steps):
    """Emulation of torch 1.13's vectorised CPU linspace on AVX2 (8 floats, 16 per loop iteration, GCC contracts
    start + step*idx into an FMA, Vectorized::arange(base, step) = base + k*step unfused, scalar tail fused).
    Checked against this machine's torch.linspace below."""
    s, e = f32(start), f32(end)
    step = (e - s) / f32(steps - 1)
    half, W = steps // 2, 8
    out, idx = [None] * steps, 0
    nvec = (steps // (2 * W)) * (2 * W)
    while idx < nvec:
        base = fma32(step, f32(idx), s) if idx < half else fma32(-step, f32(steps - idx - 1), e)
        for k in range(W):
            out[idx + k] = base + f32(k) * step
        idx += W
    for k in range(idx, steps):
        out[k] = fma32(step, f32(k), s) if k < half else fma32(-step, f32(steps - k - 1), e)
    return np.array(out, dtype=np.float32)


def create_dynamic_map(linspace):
    """functional.py create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8) with a given linspace."""
    data = []
    for i in range(7):
        b = linspace(0.1, 1, 2 ** i + 1)
        means = (b[:-1] + b[1:]) / f32(2.0)
        data += [f32(10 ** (-6 + i)) * m for m in means]        # torch rounds the python scalar to f32
        data += [f32(-(10 ** (-6 + i))) * m for m in means]
    data += [f32(0), f32(1.0)]
    assert len(data) == 256
    return np.array(sorted(float(v) for v in data), dtype=np.float32)


# ----------------------------------------------------------------------------------------------------
# bit helpers

def bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def next_up(x):
    return np.nextafter(f32(x), f32(np.inf), dtype=np.float32)


def next_down(x):
    return np.nextafter(f32(x), f32(-np.inf), dtype=np.float32)


def bf16_round(a):
    """f32 -> bf16 (as u16 bits), round to nearest even (CUDA __float2bfloat16 / torch .to(bfloat16))."""
    u = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    assert not np.isnan(np.asarray(a, dtype=np.float32)).any()
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return r.astype(np.uint16)


def bf16_to_f32(u16):
    return (np.asarray(u16, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def blocks_of(n, bs):
    return -(-n // bs)


# ----------------------------------------------------------------------------------------------------
# NF4 (kQuantizeBlockwise<NF4> / kDequantizeBlockwise<NF4>)

def nf4_quantize(x, bs=64, recip_ulps=0, rule="tree", scale="recip"):
    """x: f32 [n]. Returns (codes [n] uint8, packed [(n+1)//2] uint8, absmax [blocks] f32).
    rule "tree" = dQuantizeNF4 (CUDA), "argmin" = backends/default argmin of |scaled - table| (first on ties,
    scaled clamped to [-1, 1]); scale "recip" = x * f32(1/absmax) (moved by recip_ulps ulps), "div" = x / absmax."""
    x = np.asarray(x, dtype=np.float32)
    n = x.size
    nb = blocks_of(n, bs)
    absmax = np.zeros(nb, dtype=np.float32)
    codes = np.zeros(n + (n & 1), dtype=np.uint8)
    with np.errstate(divide="ignore", invalid="ignore"):
        for b in range(nb):
            blk = x[b * bs:(b + 1) * bs]
            a = f32(np.max(np.abs(blk)))
            absmax[b] = a
            r = f32(1.0) / a
            for _ in range(abs(recip_ulps) if np.isfinite(r) else 0):
                r = next_up(r) if recip_ulps > 0 else next_down(r)
            vals = list(blk)
            if b == nb - 1 and n & 1:
                vals.append(f32(0.0))                            # the zero padding of the odd tail
            for k, v in enumerate(vals):
                s = v * r if scale == "recip" else v / a
                if rule == "tree":
                    q = dquantize_nf4(s)
                else:
                    if b == nb - 1 and n & 1 and k == len(vals) - 1:
                        s = f32(0.0)                             # default backend pads after scaling
                    s = f32(min(max(s, f32(-1.0)), f32(1.0))) if not np.isnan(s) else s
                    d = np.abs(s - NF4)
                    q = 0 if np.isnan(s) else int(np.argmin(d))  # torch.argmin returns the NaN's index (0)
                codes[b * bs + k] = q
    packed = (codes[0::2] << 4) | codes[1::2]
    return codes[:n], packed.astype(np.uint8), absmax


def nf4_dequantize(packed, absmax, n, bs=64):
    packed = np.asarray(packed, dtype=np.uint8)
    codes = np.empty(packed.size * 2, dtype=np.uint8)
    codes[0::2] = packed >> 4
    codes[1::2] = packed & 0xF
    codes = codes[:n]
    scale = np.repeat(np.asarray(absmax, dtype=np.float32), bs)[:n]
    return NF4[codes] * scale                                    # one f32 product per element


# ----------------------------------------------------------------------------------------------------
# 8-bit blockwise with the dynamic map (kQuantizeBlockwise<General8bit> and the CPU variants)

def dquantize8_cuda(code, x):
    """dQuantize<0> of csrc/kernels.cu, literally."""
    pivot, upper_pivot, lower_pivot = 127, 255, 0
    lower, upper = f32(-1.0), f32(1.0)
    val = code[pivot]
    i = 64
    while i > 0:
        if x > val:
            lower_pivot, lower, pivot = pivot, val, pivot + i
        else:
            upper_pivot, upper, pivot = pivot, val, pivot - i
        val = code[pivot]
        i >>= 1
    if upper_pivot == 255:
        upper = code[upper_pivot]
    if lower_pivot == 0:
        lower = code[lower_pivot]
    if x > val:
        midpoint = (upper + val) * f32(0.5)
        return upper_pivot if x > midpoint else pivot
    midpoint = (lower + val) * f32(0.5)
    return lower_pivot if x < midpoint else pivot


def dquantize8_cpu(code_cpu, x):
    """csrc/common.cpp quantize_block: left neighbour by binary search, then `dist_right < dist_left`."""
    if np.isnan(x):
        return None                                              # BinSearch on NaN: not modelled
    idx = int(np.searchsorted(code_cpu, x, side="right")) - 1    # largest i with code[i] <= x
    idx = max(idx, 0)
    if idx < 255:
        dl = f32(abs(x - code_cpu[idx]))
        dr = f32(abs(x - code_cpu[idx + 1]))
        if dr < dl:
            idx += 1
    return idx


def q8_quantize(v, code, bs=256, rule="cuda", recip_ulps=0):
    """quantize_blockwise(v, code, blocksize=bs). rule: "cuda" (x * f32(1/absmax), dQuantize<0>),
    "cpu" (x / absmax, code[0] := -1, ties low), "argmin" (clamp(x * (1/absmax)), first argmin)."""
    v = np.asarray(v, dtype=np.float32)
    n = v.size
    nb = blocks_of(n, bs)
    absmax = np.zeros(nb, dtype=np.float32)
    q = np.zeros(n, dtype=np.int64)
    code_cpu = code.copy()
    code_cpu[0] = f32(-1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        for b in range(nb):
            blk = v[b * bs:(b + 1) * bs]
            a = f32(np.max(np.abs(blk)))
            absmax[b] = a
            r = f32(1.0) / a
            for _ in range(abs(recip_ulps) if np.isfinite(r) else 0):
                r = next_up(r) if recip_ulps > 0 else next_down(r)
            for k, x in enumerate(blk):
                if rule == "cuda":
                    q[b * bs + k] = dquantize8_cuda(code, x * r)
                elif rule == "cpu":
                    c = dquantize8_cpu(code_cpu, x / a)
                    q[b * bs + k] = -1 if c is None else c
                else:
                    s = x * r
                    if np.isnan(s):
                        q[b * bs + k] = 0
                    else:
                        s = f32(min(max(s, f32(-1.0)), f32(1.0)))
                        q[b * bs + k] = int(np.argmin(np.abs(s - code)))
    return q, absmax


def q8_dequantize(q, absmax, code, bs=256):
    scale = np.repeat(np.asarray(absmax, dtype=np.float32), bs)[:len(q)]
    return code[np.asarray(q, dtype=np.int64)] * scale


def exact_mean_f32(a):
    a = np.asarray(a, dtype=np.float32)
    s = sum(Fraction(float(x)) for x in a)
    m = f32(float(s / len(a)))                                   # float(Fraction) is correctly rounded
    # Fraction -> double -> f32 could double-round; check against a direct nearest-f32 decision
    exact = s / len(a)
    lo, hi = next_down(m), next_up(m)
    for c in (lo, hi):
        assert abs(Fraction(float(c)) - exact) >= abs(Fraction(float(m)) - exact), "mean not correctly rounded"
    return m


def double_quant(absmax, code):
    """bnb compress_statistics: offset = mean, quantize_blockwise(absmax - offset, 256), dequant + offset."""
    offset = exact_mean_f32(absmax)
    d64 = f32(float(np.sum(np.asarray(absmax, dtype=np.float64))) / len(absmax))
    t32 = f32(torch.from_numpy(np.asarray(absmax, dtype=np.float32)).mean().item())
    centred = np.asarray(absmax, dtype=np.float32) - offset      # f32 subtraction
    q, nested = q8_quantize(centred, code, 256, "cuda")
    absmax_dq = q8_dequantize(q, nested, code, 256) + offset     # f32 product, then f32 add
    info = {"offset_double_sum_agrees": bool(bits(d64) == bits(offset)),
            "offset_torch113_f32_mean_agrees": bool(bits(t32) == bits(offset))}
    return offset, centred, q.astype(np.uint8), nested, absmax_dq.astype(np.float32), info


# ----------------------------------------------------------------------------------------------------
# int8 (LLM.int8 vectorwise, backends/default/ops.py)

INV127 = f32(7.874015718698502e-3)


def int8_quantize_rows(x2d):
    x2d = np.asarray(x2d, dtype=np.float32)
    stats = np.max(np.abs(x2d), axis=1).astype(np.float32)
    scale = f32(127.0) / stats                                  # f32 division
    prod = x2d * scale[:, None]                                 # f32 product
    q = np.rint(prod)                                           # round half to even (torch.round)
    assert np.all(np.abs(q) <= 127)
    return q.astype(np.int8), stats, prod


def int8_dequantize_rows(q, stats):
    return (np.asarray(q, dtype=np.int8).astype(np.float32) * stats[:, None]) * INV127


# ----------------------------------------------------------------------------------------------------
# safetensors (format of huggingface/safetensors; same conventions as golden_common.py, more dtypes)

ST_DTYPES = {"F32": ("<f4", 4), "U8": ("u1", 1), "I8": ("i1", 1), "BF16": ("<u2", 2)}


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (dtype_name, shape, numpy array)}. Data laid out in sorted-key order."""
    header = {"__metadata__": metadata if metadata is not None else {"format": "pt"}}
    blobs, off = [], 0
    for name in sorted(tensors):
        dt, shape, arr = tensors[name]
        np_dt, size = ST_DTYPES[dt]
        a = np.ascontiguousarray(arr).reshape(-1)
        if dt == "F32":
            assert a.dtype == np.float32, name
        blob = a.astype(np_dt).tobytes()
        assert len(blob) == int(np.prod(shape, dtype=np.int64)) * size, name
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * (-len(hj) % 8)
    data = struct.pack("<Q", len(hj)) + hj + b"".join(blobs)
    Path(path).write_bytes(data)
    return data


def read_safetensors(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__")
    data = raw[8 + n:]
    out, spans = {}, []
    for name, info in header.items():
        np_dt, size = ST_DTYPES[info["dtype"]]
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=np_dt)
        assert arr.size == int(np.prod(info["shape"], dtype=np.int64)), name
        out[name] = (info["dtype"], tuple(info["shape"]), arr.copy())
        spans.append((a, b))
    spans.sort()
    assert spans[0][0] == 0 and spans[-1][1] == len(data)
    assert all(x[1] == y[0] for x, y in zip(spans, spans[1:]))
    return meta, out


# ----------------------------------------------------------------------------------------------------
# inputs

def gauss(shape, std, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * std).to(torch.float32).numpy().reshape(-1)


def ties_input():
    """[4, 64]: NF4 decision points. Blocks 0-1 have absmax 1.0 (reciprocal exactly 1), blocks 2-3 absmax 0.5
    (reciprocal exactly 2, x * 2 exact), so the scaled values are exactly the listed ones on every bnb path."""
    rows = []
    for scale in (f32(1.0), f32(0.5)):
        a = [f32(1.0)] + list(THR) + [next_up(t) for t in THR] + [next_down(t) for t in THR]   # 46
        a += [f32(-1.0), f32(0.0), f32(-0.0)] + list(NF4[1:7]) + list(NF4[8:15])          # +16 = 62
        a += [f32(2.0 ** -20), f32(-(2.0 ** -20))]                                        # +2 = 64
        rows.append(np.array(a, dtype=np.float32))
        # second block of the pair: the table values' neighbours, f32-arithmetic midpoints, values near +-1
        b = [f32(-1.0)] + [next_up(c) for c in NF4[:15]] + [next_down(c) for c in NF4[1:]]      # 1 + 15 + 15
        b += [(NF4[j] + NF4[j + 1]) * f32(0.5) for j in range(15)]                              # +15 = 46
        b += [f32(1.0) - f32(2 ** -24) * k for k in range(1, 10)]                               # +9 = 55
        b += [f32(-1.0) + f32(2 ** -24) * k for k in range(1, 10)]                              # +9 = 64
        rows.append(np.array(b, dtype=np.float32))
        rows[-2] = rows[-2] * scale
        rows[-1] = rows[-1] * scale
    out = np.concatenate(rows).astype(np.float32)
    assert out.size == 256, out.size
    return out


def special_input():
    """[7, 64]: zeros and -0.0 inside a normal block, a 1000x outlier, an all-zero block, absmax from a
    negative value, a tiny-magnitude block, constant blocks (+0.7, -0.7)."""
    g = gauss([7 * 64], 0.02, 1234).reshape(7, 64)
    g[0, ::5] = 0.0
    g[0, 3] = -0.0
    g[1, 17] = 1000.0
    g[2, :] = 0.0
    g[3, 40] = -3.5
    g[4, :] = (g[4, :] * f32(1e-28)).astype(np.float32)      # ~1e-30, still normal f32 (no subnormals: CUDA ftz)
    g[5, :] = 0.7
    g[6, :] = -0.7
    out = g.reshape(-1).astype(np.float32)
    assert np.all((out == 0) | (np.abs(out) >= np.finfo(np.float32).tiny)), "no subnormals"
    return out


LCG_A, LCG_C, M64 = 6364136223846793005, 1442695040888963407, (1 << 64) - 1


def lcg_input(n, seed):
    """Integer-only generator a Java test can reproduce exactly (long arithmetic, exact float products):
         s = seed; next() { s = s * 6364136223846793005 + 1442695040888963407  (mod 2^64); return s >>> 48 }
         for block b = 0, 1, ... (64 values each, the last one short):
             m = 128 + (next() >>> 9)            (7 bits -> 128..255)
             e = b % 4
             for each value: v = (next() - 32768) + (next() - 32768)      (-65536..65534)
                             x = (float) (v * m) * 2^-(24 + e)             (exact: |v*m| < 2^24)
    """
    s = seed & M64
    out = np.empty(n, dtype=np.float32)

    def nxt():
        nonlocal s
        s = (s * LCG_A + LCG_C) & M64
        return s >> 48

    for b in range(blocks_of(n, 64)):
        m = 128 + (nxt() >> 9)
        e = b % 4
        for k in range(b * 64, min(n, (b + 1) * 64)):
            v = (nxt() - 32768) + (nxt() - 32768)
            p = v * m
            assert abs(p) < (1 << 24)
            out[k] = f32(p) * f32(2.0 ** -(24 + e))
    return out


def q8_ties_input(code):
    """Inputs for the 8-bit stage alone (the nested quantisation of absmax - offset): blocks of 256 with
    absmax 1.0 (reciprocal exactly 1): block 0 the 255 f32 midpoints (c[k] + c[k+1]) * 0.5f + 1.0, block 1 each
    midpoint's next float up, block 2 next float down, block 3 the 256 map values themselves; block 4 (44 values,
    short) random with absmax 0.25."""
    mids = [(code[k] + code[k + 1]) * f32(0.5) for k in range(255)]
    b0 = mids + [f32(1.0)]
    b1 = [next_up(m) for m in mids] + [f32(1.0)]
    b2 = [next_down(m) for m in mids] + [f32(1.0)]
    b3 = list(code)
    g = gauss([44], 0.1, 777)
    g = g / np.max(np.abs(g)).astype(np.float32) * f32(0.25)
    g[5] = f32(-0.25)
    g = g.astype(np.float32)
    return np.array(b0 + b1 + b2 + b3, dtype=np.float32), g


# ----------------------------------------------------------------------------------------------------

CASES = [
    # name, shape, make-input, description
    ("normal_std002", (64, 64), lambda: gauss([64, 64], 0.02, 1), "Gaussian std 0.02 (a typical weight), 64 blocks"),
    ("normal_std1", (64, 96), lambda: gauss([64, 96], 1.0, 2), "Gaussian std 1.0, 96 blocks"),
    ("odd_3x50", (3, 50), lambda: gauss([3, 50], 0.05, 3),
     "n = 150, not a multiple of 64: blocks of 64, 64, 22 (the short block has its own absmax)"),
    ("odd_5x13", (5, 13), lambda: gauss([5, 13], 0.05, 4),
     "n = 65, odd: the last block holds ONE value; the last byte's low nibble is the code of the zero padding (7)"),
    ("special", (7, 64), special_input,
     "block 0: exact zeros (every 5th) and a -0.0 (code 7, dequant +0.0); block 1: a 1000.0 outlier (the other "
     "63 values collapse to code 7; with double quant every other block's absmax collapses to one 8-bit code and "
     "the all-zero block dequantises to -3.72); block 2: all zeros (absmax 0 -> NaN -> code 0, dequant -0.0); block 3: absmax "
     "from -3.5 (code 0); block 4: ~1e-30 values (normal f32); block 5: all +0.7 (code 15); block 6: all -0.7 "
     "(code 0)"),
    ("ties", (4, 64), ties_input,
     "NF4 decision points: every f32 threshold of dQuantizeNF4 exactly (-> the LOWER code), its next float up and "
     "down, the table values and their neighbours, the f32 midpoints (c[j] + c[j+1]) * 0.5f (all equal to the "
     "thresholds), values just inside +-1, +-2^-20; rows 0-1 with absmax 1.0, rows 2-3 the same values * 0.5 (absmax 0.5, reciprocal 2 exact)"),
    ("same_absmax", (2, 64), None,
     "two blocks with the same absmax (0.5): absmax - offset is all zero, nested absmax 0 -> 0 * inf = NaN -> "
     "8-bit code 0 on CUDA (CUDA rule only), dequantised absmax = map[0] * 0 + offset = offset exactly"),
    ("bf16", (32, 64), None,
     "Gaussian std 0.02 rounded to bf16 (input also as .input_bf16 BF16); quant_state dtype bfloat16; "
     ".dequant_bf16 / .dq.dequant_bf16 are the f32 products rounded to bf16 (RNE) as bnb returns them"),
]


def main():
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    # ---- tables and self-checks of the tables
    assert NF4[7] == 0 and NF4[0] == -1 and NF4[15] == 1 and np.all(np.diff(NF4) > 0)
    for j in range(15):   # each threshold literal is the double midpoint of the two neighbouring literals
        mid = (float(NF4_LITERALS[j]) + float(NF4_LITERALS[j + 1])) / 2
        assert abs(mid - float(NF4_THRESHOLD_LITERALS[j])) < 1e-15, j
    for x in list(np.linspace(-1.1, 1.1, 20001, dtype=np.float32)) + [f32(np.nan)]:
        assert dquantize_nf4(x) == int(np.sum(x > THR)), x          # the tree is "count of thresholds below x"

    dyn = create_dynamic_map(linspace_scalar)
    dyn_t113 = create_dynamic_map(lambda s, e, n: torch.linspace(s, e, n).numpy())
    dyn_t113_emul = create_dynamic_map(linspace_torch113_avx2)
    assert dyn[0] == f32(-0.99296875) and dyn[127] == 0 and dyn[255] == 1 and np.all(np.diff(dyn) > 0)
    assert np.all(dyn[:127] == -dyn[128:255][::-1])
    torch113_is_avx2_vectorised = bool(np.array_equal(bits(dyn_t113), bits(dyn_t113_emul)))
    n_diff_t113 = int(np.sum(bits(dyn) != bits(dyn_t113)))
    n_diff_emul = int(np.sum(bits(dyn) != bits(dyn_t113_emul)))
    # dQuantize<0> is nearest-value with the tie/threshold rules described at the top
    for k in range(255):
        assert dquantize8_cuda(dyn, dyn[k]) == k and dquantize8_cuda(dyn, dyn[k + 1]) == k + 1

    T = {}   # name -> (dtype, shape, array)
    meta_cases = {}
    robust = {}

    def put(name, dt, shape, arr):
        assert name not in T, name
        T[name] = (dt, tuple(int(s) for s in shape), np.asarray(arr))

    T["map.nf4"] = ("F32", (16,), NF4)
    T["map.dynamic"] = ("F32", (256,), dyn)

    def nf4_case(name, shape, x, dtype_name="float32", designed=False):
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        n = x.size
        codes, packed, absmax = nf4_quantize(x)
        deq = nf4_dequantize(packed, absmax, n)
        # robustness: other bnb paths and +-1 ulp reciprocals give the same codes?
        alts = {
            "recip+1ulp": nf4_quantize(x, recip_ulps=1)[0],
            "recip-1ulp": nf4_quantize(x, recip_ulps=-1)[0],
            "argmin_recip (backends/default)": nf4_quantize(x, rule="argmin")[0],
            "argmin_div": nf4_quantize(x, rule="argmin", scale="div")[0],
            "tree_div": nf4_quantize(x, scale="div")[0],
        }
        diffs = {k: [int(i) for i in np.nonzero(v != codes)[0]] for k, v in alts.items()}
        if not designed:
            assert all(not d for d in diffs.values()), (name, {k: d[:5] for k, d in diffs.items() if d})
        offset, centred, q8, nested, absmax_dq, mean_info = double_quant(absmax, dyn)
        q8_alts = {
            "recip+1ulp": q8_quantize(centred, dyn, 256, "cuda", 1)[0],
            "recip-1ulp": q8_quantize(centred, dyn, 256, "cuda", -1)[0],
            "cpu (cpu_ops.cpp)": q8_quantize(centred, dyn, 256, "cpu")[0],
            "argmin (backends/default)": q8_quantize(centred, dyn, 256, "argmin")[0],
            "cuda with torch 1.13 map": q8_quantize(centred, dyn_t113, 256, "cuda")[0],
        }
        q8_diffs = {k: [int(i) for i in np.nonzero(v != q8)[0]] for k, v in q8_alts.items()}
        if name != "same_absmax":
            assert all(not d for d in q8_diffs.values()), (name, q8_diffs)
        dq_deq = nf4_dequantize(packed, absmax_dq, n)
        put(f"{name}.input", "F32", shape, x)
        put(f"{name}.packed", "U8", [packed.size], packed)
        put(f"{name}.absmax", "F32", [absmax.size], absmax)
        put(f"{name}.dequant", "F32", shape, deq)
        put(f"{name}.dq.absmax_u8", "U8", [q8.size], q8)
        put(f"{name}.dq.nested_absmax", "F32", [nested.size], nested)
        put(f"{name}.dq.offset", "F32", [1], np.array([offset], dtype=np.float32))
        put(f"{name}.dq.absmax", "F32", [absmax_dq.size], absmax_dq)
        put(f"{name}.dq.dequant", "F32", shape, dq_deq)
        if dtype_name == "bfloat16":
            put(f"{name}.input_bf16", "BF16", shape, bf16_round(x))
            assert np.array_equal(bits(bf16_to_f32(bf16_round(x))), bits(x))
            put(f"{name}.dequant_bf16", "BF16", shape, bf16_round(deq))
            put(f"{name}.dq.dequant_bf16", "BF16", shape, bf16_round(dq_deq))
        qs = {"quant_type": "nf4", "blocksize": 64, "dtype": dtype_name, "shape": list(shape),
              "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": float(offset)}
        meta_cases[name] = {
            "shape": list(shape), "n": n, "blocks": int(absmax.size), "nested_blocks": int(nested.size),
            "offset": float(offset), "offset_bits": f"0x{int(bits(offset)):08x}",
            "quant_state_json_nested": json.dumps(qs),
            "code_histogram": [int(c) for c in np.bincount(codes, minlength=16)],
            **mean_info,
        }
        robust[name] = {"nf4_elements_where_other_paths_differ": {k: d for k, d in diffs.items() if d},
                        "dq_codes_where_other_paths_differ": {k: d for k, d in q8_diffs.items() if d}}
        return codes, packed, absmax, deq, offset, q8, nested, absmax_dq

    results = {}
    for name, shape, make, _ in CASES:
        if name == "same_absmax":
            x = gauss([128], 0.1, 5)
            x = (x / np.max(np.abs(x[:64])) * 0.4).astype(np.float32)
            x[64:] = (x[64:] / np.max(np.abs(x[64:])) * 0.4).astype(np.float32)
            x[10], x[100] = f32(0.5), f32(-0.5)
            results[name] = nf4_case(name, shape, x)
        elif name == "bf16":
            x = bf16_to_f32(bf16_round(gauss([32, 64], 0.02, 6)))
            results[name] = nf4_case(name, shape, x, dtype_name="bfloat16")
        else:
            results[name] = nf4_case(name, shape, make(), designed=(name == "ties"))

    # ---- checks of designed behaviour
    c_odd = results["odd_5x13"]
    assert c_odd[1][-1] & 0xF == 7 and c_odd[1].size == 33
    c_sp = results["special"]
    assert np.all(c_sp[0][128:192] == 0) and c_sp[2][2] == 0 and np.all(c_sp[1][64:96] == 0)
    assert np.all(bits(c_sp[3][128:192]) == 0x80000000)           # -0.0
    assert c_sp[3][3] == 0 and bits(c_sp[3][3]) == 0              # input -0.0 -> +0.0
    assert np.all(c_sp[0][320:384] == 15) and np.all(c_sp[0][384:448] == 0)
    c_ties = results["ties"]
    for r0 in (0, 128):                                           # rows 0 and 2: thresholds exactly -> lower code
        assert list(c_ties[0][r0 + 1:r0 + 16]) == list(range(15))
        assert list(c_ties[0][r0 + 16:r0 + 31]) == list(range(1, 16))
        assert list(c_ties[0][r0 + 31:r0 + 46]) == list(range(15))
    c_same = results["same_absmax"]
    assert np.all(c_same[5] == 0) and c_same[6][0] == 0 and np.all(bits(c_same[7]) == bits(c_same[4]))

    # ---- the integer-generated case with more than 256 NF4 blocks (2 nested blocks, the second short)
    n_lcg = 301 * 64 - 27
    x_lcg = lcg_input(n_lcg, 20240601)
    codes, packed, absmax = nf4_quantize(x_lcg)
    for alt in (nf4_quantize(x_lcg, recip_ulps=1)[0], nf4_quantize(x_lcg, recip_ulps=-1)[0],
                nf4_quantize(x_lcg, rule="argmin")[0], nf4_quantize(x_lcg, rule="argmin", scale="div")[0]):
        assert np.array_equal(alt, codes)
    offset, centred, q8, nested, absmax_dq, mean_info = double_quant(absmax, dyn)
    for alt in (q8_quantize(centred, dyn, 256, "cuda", 1)[0], q8_quantize(centred, dyn, 256, "cuda", -1)[0],
                q8_quantize(centred, dyn, 256, "cpu")[0], q8_quantize(centred, dyn, 256, "argmin")[0]):
        assert np.array_equal(alt, q8)
    lcg_deq = nf4_dequantize(packed, absmax_dq, n_lcg)
    put("lcg.input_head", "F32", [64], x_lcg[:64])
    put("lcg.packed", "U8", [packed.size], packed)
    put("lcg.absmax", "F32", [absmax.size], absmax)
    put("lcg.dq.absmax_u8", "U8", [q8.size], q8)
    put("lcg.dq.nested_absmax", "F32", [nested.size], nested)
    put("lcg.dq.offset", "F32", [1], np.array([offset], dtype=np.float32))
    put("lcg.dq.absmax", "F32", [absmax_dq.size], absmax_dq)
    meta_cases["lcg"] = {
        "shape": [n_lcg], "n": n_lcg, "blocks": int(absmax.size), "nested_blocks": int(nested.size),
        "offset": float(offset), "offset_bits": f"0x{int(bits(offset)):08x}", "seed": 20240601,
        "generator": lcg_input.__doc__.strip(),
        "dequant_sha256": hashlib.sha256(nf4_dequantize(packed, absmax, n_lcg).astype("<f4").tobytes()).hexdigest(),
        "dq_dequant_sha256": hashlib.sha256(lcg_deq.astype("<f4").tobytes()).hexdigest(),
        **mean_info,
    }

    # ---- the 8-bit stage alone, with exact midpoints (CUDA rule) and the CPU rule next to it
    v_ties, v_rand = q8_ties_input(dyn)
    v = np.concatenate([v_ties, v_rand]).astype(np.float32)
    q_cuda, am = q8_quantize(v, dyn, 256, "cuda")
    q_cpu, _ = q8_quantize(v, dyn, 256, "cpu")
    q_arg, _ = q8_quantize(v, dyn, 256, "argmin")
    assert np.all(am[:4] == 1) and am[4] == f32(0.25)
    mids_q = q_cuda[:255]
    for k in range(255):          # an exact f32 midpoint keeps the pivot: the even index of the pair
        assert mids_q[k] == (k if k % 2 == 0 else k + 1), (k, mids_q[k])
    assert list(q_cuda[256:511]) == list(range(1, 256)) and list(q_cuda[512:767]) == list(range(0, 255))
    assert list(q_cuda[768:1024]) == list(range(256))
    assert np.array_equal(q_cuda[1024:], q_cpu[1024:]) and np.array_equal(q_cuda[1024:], q_arg[1024:])
    put("q8.input", "F32", [v.size], v)
    put("q8.q", "U8", [v.size], q_cuda.astype(np.uint8))
    put("q8.q_cpu", "U8", [v.size], q_cpu.astype(np.uint8))
    put("q8.absmax", "F32", [am.size], am)
    put("q8.dequant", "F32", [v.size], q8_dequantize(q_cuda, am, dyn))
    q8_cpu_diff = [int(i) for i in np.nonzero(q_cuda != q_cpu)[0]]
    q8_arg_diff = [int(i) for i in np.nonzero(q_cuda != q_arg)[0]]

    # ---- int8 row-wise (LLM.int8) and per block of 32
    xi = gauss([8, 48], 1.0, 8).reshape(8, 48)
    xi[3, 7] = 25.0                                             # an outlier row
    xi[5, :] = (xi[5, :] * f32(20.0)).astype(np.float32)
    xi[5, :16] = np.array([127.0, -127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 126.5, -126.5, 0.49999997,
                           0.50000006, 63.5, -63.5, 64.5], dtype=np.float32)   # absmax 127: scale exactly 1
    xi[6, :] = (xi[6, :] * f32(1e-3)).astype(np.float32)
    xi = xi.astype(np.float32)
    q, stats, prod = int8_quantize_rows(xi)
    assert list(q[5, :16]) == [127, -127, 0, 2, 2, 0, -2, -2, 4, 126, -126, 0, 1, 64, -64, 64]
    frac = np.abs(prod - np.floor(prod) - 0.5)
    near = [(int(r), int(c)) for r, c in zip(*np.nonzero(frac < 1e-4)) if not (r == 5 and c < 16)]
    assert not near, near                                       # no accidental near-ties outside row 5
    deq8 = int8_dequantize_rows(q, stats)
    put("int8rows.input", "F32", [8, 48], xi)
    put("int8rows.int8.q", "I8", [8, 48], q)
    put("int8rows.int8.scale", "F32", [8], stats)
    put("int8rows.int8.dequant", "F32", [8, 48], deq8)
    xb = xi.reshape(-1, 32)
    qb, statsb, prodb = int8_quantize_rows(xb)
    fracb = np.abs(prodb - np.floor(prodb) - 0.5).reshape(8, 48)
    nearb = [(int(r), int(c)) for r, c in zip(*np.nonzero(fracb < 1e-4)) if not (r == 5 and c < 16)]
    assert not nearb, nearb
    put("int8rows.int8_b32.q", "I8", [8, 48], qb.reshape(8, 48))
    put("int8rows.int8_b32.scale", "F32", [statsb.size], statsb)
    put("int8rows.int8_b32.dequant", "F32", [8, 48], int8_dequantize_rows(qb, statsb).reshape(8, 48))

    cases_path = OUT_DIR / "cases.safetensors"
    write_safetensors(cases_path, T)

    # ---- bnb / transformers on-disk layout of two Linear4bit weights
    L = {}
    r = results["bf16"]                                         # nested (bnb_4bit_use_double_quant=True)
    p = "model.layers.0.self_attn.q_proj.weight"
    qs_nested = {"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [32, 64],
                 "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": float(r[4])}
    js = json.dumps(qs_nested).encode("utf-8")
    L[p] = ("U8", (r[1].size, 1), r[1])
    L[p + ".absmax"] = ("U8", (r[5].size,), r[5])
    L[p + ".nested_absmax"] = ("F32", (r[6].size,), r[6])
    L[p + ".nested_quant_map"] = ("F32", (256,), dyn)
    L[p + ".quant_map"] = ("F32", (16,), NF4)
    L[p + ".quant_state.bitsandbytes__nf4"] = ("U8", (len(js),), np.frombuffer(js, dtype=np.uint8))
    r = results["normal_std002"]                                # plain (no double quant)
    p = "model.layers.0.mlp.down_proj.weight"
    qs_plain = {"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [64, 64]}
    js2 = json.dumps(qs_plain).encode("utf-8")
    L[p] = ("U8", (r[1].size, 1), r[1])
    L[p + ".absmax"] = ("F32", (r[2].size,), r[2])
    L[p + ".quant_map"] = ("F32", (16,), NF4)
    L[p + ".quant_state.bitsandbytes__nf4"] = ("U8", (len(js2),), np.frombuffer(js2, dtype=np.uint8))
    layout_path = OUT_DIR / "bnb_layout.safetensors"
    write_safetensors(layout_path, L)

    # ---- json
    info = {
        "source": "bitsandbytes (bitsandbytes-foundation/bitsandbytes): functional.py get_4bit_type / "
                  "create_dynamic_map / quantize_4bit / QuantState; csrc/kernels.cu kQuantizeBlockwise, "
                  "dQuantizeNF4, dQuantize<0>, kDequantizeBlockwise; csrc/cpu_ops.cpp, csrc/common.cpp; "
                  "backends/default/ops.py. Generated by scripts/golden/make_nf4_goldens.py.",
        "nf4": {
            "literals": NF4_LITERALS,
            "values": [float(v) for v in NF4],
            "bits": [f"0x{int(b):08x}" for b in bits(NF4)],
            "thresholds_literals": NF4_THRESHOLD_LITERALS,
            "thresholds": [float(v) for v in THR],
            "thresholds_bits": [f"0x{int(b):08x}" for b in bits(THR)],
            "threshold_rule": "code = number of thresholds t with x > t (strict); x == t -> lower code; NaN -> 0",
            "blocksize": 64,
            "nibble_order": "first element of each pair in the HIGH nibble (byte = q[2i] << 4 | q[2i+1])",
        },
        "double_quant": {
            "nested_blocksize": 256, "nested_dtype": "float32",
            "offset": "mean of the plain absmax (exact mean rounded to f32 here; bnb: torch f32 mean)",
            "dequant": "absmax' = f32(f32(dynamic_map[q] * nested_absmax[b // 256]) + offset); "
                       "x' = f32(nf4[code] * absmax')",
        },
        "dynamic_map": {
            "recipe": "create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), linspace = ATen "
                      "scalar formula in f32 without FMA (this is map.dynamic in cases.safetensors)",
            "values": [float(v) for v in dyn],
            "bits": [f"0x{int(b):08x}" for b in bits(dyn)],
        },
        "dynamic_map_variants": {
            "note": "torch.linspace's f32 rounding differs between torch builds, so bnb's map does too (1-2 ulp "
                    "in some entries). Checkpoints carry their map (nested_quant_map); dequantise with that one.",
            "torch_1_13_cpu_this_machine": {
                "entries_differing_from_map.dynamic": n_diff_t113,
                "equals_emulated_avx2_vectorised_linspace": torch113_is_avx2_vectorised,
                "bits": [f"0x{int(b):08x}" for b in bits(dyn_t113)],
            },
            "emulated_avx2_vectorised_entries_differing": n_diff_emul,
            "native_cpu_quantize_blockwise": "csrc/cpu_ops.cpp quantize_cpu sets code[0] = -1.0 in place; a "
                                             "checkpoint made on CPU stores nested_quant_map[0] = -1.0",
        },
        "int8": {
            "rule": "scale = f32(127 / absmax_row); q = round_half_even(f32(x * scale)); "
                    "dequant = f32(f32(q * absmax_row) * f32(7.874015718698502e-3))",
            "int8.scale": "the row absmax (bnb's SCB / row_stats), not 127/absmax",
            "int8_b32": "the same rule with one absmax per block of 32 consecutive values (not a bnb op)",
        },
        "q8": {
            "what": "quantize_blockwise(q8.input, dynamic_map, blocksize=256) alone",
            "q": "CUDA rule (dQuantize<0>): an exact f32 midpoint keeps the even index",
            "q_cpu": "csrc/common.cpp rule (x / absmax, code[0] = -1.0, ties to the lower index)",
            "indices_where_q_cpu_differs": q8_cpu_diff,
            "indices_where_argmin_differs": q8_arg_diff,
        },
        "cases": meta_cases,
        "robustness": robust,
        "layout": {
            "file": "bnb_layout.safetensors",
            "model.layers.0.self_attn.q_proj.weight": "case bf16, double quant, quant_state " + js.decode(),
            "model.layers.0.mlp.down_proj.weight": "case normal_std002, no double quant, quant_state " + js2.decode(),
        },
    }
    json_path = OUT_DIR / "nf4_code.json"
    json_path.write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")

    readme = OUT_DIR / "README.md"
    readme.write_text(render_readme())

    # ---- re-read and compare
    meta, back = read_safetensors(cases_path)
    assert meta == {"format": "pt"} and back.keys() == T.keys()
    for k, (dt, shape, arr) in T.items():
        bdt, bshape, barr = back[k]
        np_dt = ST_DTYPES[dt][0]
        assert bdt == dt and bshape == shape, k
        assert np.asarray(arr).reshape(-1).astype(np_dt).tobytes() == barr.tobytes(), k
    _, lay = read_safetensors(layout_path)
    qsj = json.loads(bytes(lay["model.layers.0.self_attn.q_proj.weight.quant_state.bitsandbytes__nf4"][2]))
    assert qsj == qs_nested and list(qsj) == ["quant_type", "blocksize", "dtype", "shape", "nested_blocksize",
                                              "nested_dtype", "nested_offset"]
    assert f32(qsj["nested_offset"]) == results["bf16"][4]

    total = sum(p.stat().st_size for p in OUT_DIR.iterdir())
    print(f"wrote {OUT_DIR.relative_to(ROOT)}: {', '.join(sorted(p.name for p in OUT_DIR.iterdir()))} ({total} bytes)")
    print(f"dynamic map: torch 1.13 here differs from map.dynamic in {n_diff_t113} entries "
          f"(AVX2-vectorised emulation matches torch: {torch113_is_avx2_vectorised})")
    print(f"q8 ties: CPU rule differs at {len(q8_cpu_diff)} of {v.size}, argmin at {len(q8_arg_diff)}")
    for name, rb in robust.items():
        if rb["nf4_elements_where_other_paths_differ"] or rb["dq_codes_where_other_paths_differ"]:
            print(f"  {name}: " + ", ".join(f"{k}: {len(d)}" for k, d in
                                             {**rb["nf4_elements_where_other_paths_differ"],
                                              **rb["dq_codes_where_other_paths_differ"]}.items()))
    for name, m in meta_cases.items():
        if not (m["offset_double_sum_agrees"] and m["offset_torch113_f32_mean_agrees"]):
            print(f"  offset {name}: double-sum agrees {m['offset_double_sum_agrees']}, "
                  f"torch f32 mean agrees {m['offset_torch113_f32_mean_agrees']}")
    assert total < 300_000, total


def render_readme():
    lines = [
        "# golden/nf4 — bitsandbytes NF4 / double-quant / int8 fixtures",
        "",
        "Written by `scripts/golden/make_nf4_goldens.py` (rules and their bitsandbytes sources are in its header;",
        "`nf4_code.json` has the tables). Every tensor is in `cases.safetensors` as `<case>.<what>`:",
        "",
        "| tensor | dtype, shape | content |",
        "|---|---|---|",
        "| `.input` | F32, the case's shape | the values quantised |",
        "| `.packed` | U8 [(n+1)/2] | NF4 codes, first element of each pair in the high nibble (bnb stores [(n+1)/2, 1]) |",
        "| `.absmax` | F32 [ceil(n/64)] | plain per-block absmax |",
        "| `.dequant` | F32 | `nf4[code] * absmax[block]` |",
        "| `.dq.offset` | F32 [1] | mean of `.absmax` (exact mean rounded to f32) |",
        "| `.dq.absmax_u8` | U8 [blocks] | 8-bit dynamic-map codes of `absmax - offset`, blocks of 256 |",
        "| `.dq.nested_absmax` | F32 [ceil(blocks/256)] | absmax of `absmax - offset` per 256 |",
        "| `.dq.absmax` | F32 [blocks] | dequantised absmax: `map[q] * nested + offset` |",
        "| `.dq.dequant` | F32 | `nf4[code] * dq.absmax[block]` (bnb's dequantize_4bit of a nested state) |",
        "",
        "`map.nf4` (F32 [16]) and `map.dynamic` (F32 [256]) are the tables used.",
        "",
        "| case | shape | what it exercises |",
        "|---|---|---|",
    ]
    for name, shape, _, desc in CASES:
        lines.append(f"| `{name}` | {list(shape)} | {desc} |")
    lines += [
        "| `lcg` | [19237] | 301 NF4 blocks (last one 37 values, odd n), so 2 nested blocks (256 + 45). The "
        "input is not stored: it comes from the integer generator in `nf4_code.json` cases.lcg.generator "
        "(reproducible exactly in Java); `lcg.input_head` holds its first 64 values; `.dequant` / `.dq.dequant` "
        "are given as SHA-256 of their little-endian f32 bytes |",
        "",
        "Also in `cases.safetensors`:",
        "",
        "* `q8.input` / `q8.q` / `q8.q_cpu` / `q8.absmax` / `q8.dequant`: the 8-bit blockwise stage alone "
        "(quantize_blockwise with the dynamic map, blocks of 256). Blocks 0-3 have absmax 1.0: block 0 holds the "
        "255 f32 midpoints `(map[k] + map[k+1]) * 0.5f` (CUDA `dQuantize<0>` keeps the even index), block 1 their "
        "next float up (-> k+1), block 2 next float down (-> k), block 3 the map values; block 4 (44 values) is "
        "random. `q8.q_cpu` is bnb's native CPU rule (division, `code[0] = -1`, ties to the lower index).",
        "* `int8rows.*`: LLM.int8-style row-wise absmax int8 of an [8, 48] input: `.int8.q` (I8), `.int8.scale` "
        "(row absmax, F32 [8]), `.int8.dequant`; and `.int8_b32.*` the same with one absmax per 32 values. Row 5 "
        "has absmax 127 (scale exactly 1.0) and exact .5 values: round half to even.",
        "",
        "`bnb_layout.safetensors` holds two 4-bit Linear weights exactly as bitsandbytes' `Linear4bit` saves them "
        "(transformers `save_pretrained` of a 4-bit model): `model.layers.0.self_attn.q_proj.weight` (case `bf16`, "
        "double quant: `weight` U8 [1024, 1], `.absmax` U8, `.nested_absmax`, `.nested_quant_map`, `.quant_map`, "
        "`.quant_state.bitsandbytes__nf4` = UTF-8 JSON bytes) and `model.layers.0.mlp.down_proj.weight` "
        "(case `normal_std002`, no double quant: `.absmax` F32).",
        "",
        "Ties: thresholds and midpoints are hit exactly only in `ties`, `q8` and `int8rows` row 5; there the "
        "fixtures follow the CUDA kernels (NF4: `x > t`, lower code; 8-bit: the even index) and torch.round "
        "(int8). Everywhere else the script checks that every bnb code path (CUDA tree, pure-torch argmin, "
        "division instead of reciprocal, reciprocal +-1 ulp, native CPU 8-bit) gives the same codes.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
