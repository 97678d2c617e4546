#!/usr/bin/env python3
"""
ggml_quants.py -- a NumPy mirror of ggml's *reference* (scalar C) quantisers and dequantisers for the GGUF
tensor types peft4j reads/writes, written to be bit-identical to the C code.

    quantize(type_name, x)        -> bytes          x: float32 array, len a multiple of the block size
    dequantize(type_name, data, n) -> np.ndarray    float32, n values

Types: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K  (TYPES below: ggml type id,
block size in values, bytes per block).

Source mirrored (see README-gguf-quants.md for the exact commits):
    ggml/src/ggml-quants.c   quantize_row_{q4_0,q4_1,q5_0,q5_1,q8_0,q4_K,q5_K,q6_K}_ref,
                             dequantize_row_{q4_0,q4_1,q5_0,q5_1,q8_0,q4_K,q5_K,q6_K},
                             nearest_int, make_qx_quants, make_qkx2_quants, get_scale_min_k4
    ggml/src/ggml-impl.h     ggml_compute_fp32_to_fp16 / ggml_compute_fp16_to_fp32 (GGML_FP32_TO_FP16 /
                             GGML_FP16_TO_FP32), ggml_compute_fp32_to_bf16 / ggml_compute_bf16_to_fp32
    ggml/src/ggml.c          ggml_fp32_to_fp16_row, ggml_fp32_to_bf16_row_ref (F16/BF16 "from_float_ref")
    ggml/src/ggml-common.h   block_* struct layouts (all little-endian, no padding)

How bit-exactness is kept
-------------------------
* Every arithmetic step is an IEEE float32 operation on np.float32 values, in the same order as the C
  expression (C evaluates `a*b*c` as `(a*b)*c`; ints are converted to float first, exactly).  Element-wise
  steps are vectorised (numpy does them one IEEE op per element); every C accumulation `s += t` is done
  strictly sequentially (np.add.accumulate in float32, never np.sum, which sums pairwise).
* No fused multiply-add anywhere.  This matches ggml built for baseline x86-64 (ggml-quants.c is in
  ggml-base, compiled without -march flags) and matches Java float arithmetic.  A C compiler allowed to
  contract a*b+c into an FMA (e.g. aarch64, or -march=haswell with GCC's default -ffp-contract=fast) can
  produce different bits in rare cases; that is not the reference.
* Constants are wrapped in np.float32 so the script gives the same bits under NumPy 1.x (value-based
  casting) and NumPy 2.x (NEP 50).
"""

import numpy as np

F32 = np.float32
F = np.float32
_U32 = np.uint32

QK_K = 256

# name -> (ggml_type id as in ggml.h enum ggml_type, values per block, bytes per block)
TYPES = {
    "F32":  (0, 1, 4),
    "F16":  (1, 1, 2),
    "Q4_0": (2, 32, 18),     # ggml_half d; uint8 qs[16]
    "Q4_1": (3, 32, 20),     # ggml_half d, m; uint8 qs[16]
    "Q5_0": (6, 32, 22),     # ggml_half d; uint8 qh[4]; uint8 qs[16]
    "Q5_1": (7, 32, 24),     # ggml_half d, m; uint8 qh[4]; uint8 qs[16]
    "Q8_0": (8, 32, 34),     # ggml_half d; int8 qs[32]
    "Q4_K": (12, 256, 144),  # ggml_half d, dmin; uint8 scales[12]; uint8 qs[128]
    "Q5_K": (13, 256, 176),  # ggml_half d, dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]
    "Q6_K": (14, 256, 210),  # uint8 ql[128]; uint8 qh[64]; int8 scales[16]; ggml_half d   (d is LAST)
    "BF16": (30, 1, 2),
}


# ----------------------------------------------------------------------------------------------------------
# scalar helpers
# ----------------------------------------------------------------------------------------------------------

def _f32arr(x):
    return np.ascontiguousarray(np.asarray(x, dtype=F32).reshape(-1))


def _bits(a):
    """float32 array -> uint32 bit patterns"""
    return _f32arr(a).view(_U32)


def _from_bits(b):
    """uint32 array -> float32 array"""
    return np.ascontiguousarray(np.asarray(b, dtype=_U32)).view(F32)


def nearest_int(fval):
    """ggml-quants.c nearest_int(): `val = fval + 12582912.f; i = bits(val); return (i & 0x7fffff) - 0x400000`.
    For |fval| <= 4194303 this is round-half-to-even of the float32 value (== Math.rint).  Vectorised;
    returns an int64 array (or an int for a scalar argument)."""
    scalar = np.ndim(fval) == 0
    v = _f32arr(fval) + F(12582912.0)
    i = v.view(np.int32).astype(np.int64)
    r = (i & 0x007FFFFF) - 0x00400000
    return int(r[0]) if scalar else r


def _seq_sum(terms, init=F(0.0)):
    """C `float s = init; for (...) s += terms[i];` -- strictly left to right in float32."""
    t = _f32arr(terms)
    if t.size == 0:
        return F(init)
    acc = np.add.accumulate(np.concatenate((np.array([init], dtype=F32), t)), dtype=F32)
    return F(acc[-1])


# ----------------------------------------------------------------------------------------------------------
# fp16 / bf16 (ggml-impl.h)
# ----------------------------------------------------------------------------------------------------------

def fp32_to_fp16_bits(f):
    """ggml_compute_fp32_to_fp16 (GGML_FP32_TO_FP16; Maratyszcza/FP16 fp16_ieee_from_fp32_value):
    IEEE round-to-nearest-even, overflow (|f| >= 65520) -> +-inf, subnormals kept, any NaN -> sign|0x7E00
    (the payload is dropped).  Returns uint16 array."""
    f = _f32arr(f)
    with np.errstate(over="ignore", invalid="ignore"):
        base = (np.abs(f) * F(2.0 ** 112)) * F(2.0 ** -110)          # scale_to_inf, scale_to_zero
        w = f.view(_U32).astype(np.uint64)
        shl1_w = (w + w) & 0xFFFFFFFF
        sign = w & 0x80000000
        bias = shl1_w & 0xFF000000
        bias = np.where(bias < 0x71000000, np.uint64(0x71000000), bias)
        base = _from_bits(((bias >> 1) + 0x07800000).astype(_U32)) + base
        bits = base.view(_U32).astype(np.uint64)
    exp_bits = (bits >> 13) & 0x00007C00
    mantissa_bits = bits & 0x00000FFF
    nonsign = exp_bits + mantissa_bits
    out = (sign >> 16) | np.where(shl1_w > 0xFF000000, np.uint64(0x7E00), nonsign)
    return (out & 0xFFFF).astype(np.uint16)


def fp16_bits_to_fp32(h):
    """ggml_compute_fp16_to_fp32 (GGML_FP16_TO_FP32).  Exact for every finite/inf value; NaN keeps its
    payload (shifted) and is quietened by the float multiply, as on x86."""
    h = np.asarray(h, dtype=np.uint16).reshape(-1)
    w = h.astype(np.uint64) << 16
    sign = w & 0x80000000
    two_w = (w + w) & 0xFFFFFFFF
    exp_offset = 0xE0 << 23
    with np.errstate(invalid="ignore"):
        normalized = _from_bits(((two_w >> 4) + exp_offset).astype(_U32)) * F(2.0 ** -112)
    magic_mask = 126 << 23
    denormalized = _from_bits(((two_w >> 17) | magic_mask).astype(_U32)) - F(0.5)
    res = sign | np.where(two_w < (1 << 27), denormalized.view(_U32).astype(np.uint64),
                          normalized.view(_U32).astype(np.uint64))
    return _from_bits(res.astype(_U32))


def fp32_to_bf16_bits(f):
    """ggml_compute_fp32_to_bf16: NaN -> (bits >> 16) | 64 (forced quiet, payload top bits kept, sign kept);
    otherwise (bits + 0x7fff + ((bits >> 16) & 1)) >> 16 (round to nearest even; overflow rounds to inf;
    subnormals are NOT flushed)."""
    u = _bits(f).astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    rne = ((u + (0x7FFF + ((u >> 16) & 1))) & 0xFFFFFFFF) >> 16
    out = np.where(nan, (u >> 16) | 64, rne)
    return (out & 0xFFFF).astype(np.uint16)


def bf16_bits_to_fp32(h):
    """ggml_compute_bf16_to_fp32: bits << 16."""
    h = np.asarray(h, dtype=np.uint16).reshape(-1)
    return _from_bits(h.astype(_U32) << 16)


def _h(f):
    """GGML_FP32_TO_FP16 of one float -> 2 little-endian bytes, plus the value GGML_FP16_TO_FP32 reads back"""
    b = fp32_to_fp16_bits(f)
    return b.astype("<u2").tobytes(), F(fp16_bits_to_fp32(b)[0])


def _half_at(data, off):
    return F(fp16_bits_to_fp32(np.frombuffer(data, dtype="<u2", count=1, offset=off))[0])


# ----------------------------------------------------------------------------------------------------------
# legacy 32-value blocks
# ----------------------------------------------------------------------------------------------------------

def _amax_signed_max(x):
    """`amax = 0; max = 0; for j: if (amax < fabsf(v)) { amax = fabsf(v); max = v; }` -- the FIRST element
    of largest magnitude wins (strict <), its sign is kept."""
    amax = F(0.0)
    mx = F(0.0)
    for v in x:
        av = F(abs(v))
        if amax < av:
            amax = av
            mx = F(v)
    return amax, mx


def _min_max(x):
    """`min = FLT_MAX; max = -FLT_MAX; for j: if (v < min) min = v; if (v > max) max = v;` (sequential, so
    the first of +0.0/-0.0 wins -- np.min would not guarantee that)."""
    mn = F(np.finfo(F32).max)
    mx = F(-np.finfo(F32).max)
    for v in x:
        if v < mn:
            mn = F(v)
        if v > mx:
            mx = F(v)
    return mn, mx


def _c_float_to_int_trunc(v):
    """C float -> integer conversion (truncation toward zero)."""
    return np.trunc(_f32arr(v).astype(np.float64)).astype(np.int64)


def quantize_row_q4_0_ref(x):
    """quantize_row_q4_0_ref: d = max / -8 (max = signed value of largest |x|), id = d ? 1/d : 0 (id uses the
    float32 d, NOT the fp16-rounded one), q = MIN(15, (int8_t)(x*id + 8.5f)) (truncation), low nibble =
    element j, high nibble = element j+16."""
    out = bytearray()
    for blk in _f32arr(x).reshape(-1, 32):
        _, mx = _amax_signed_max(blk)
        d = F(mx / F(-8.0))
        idv = F(F(1.0) / d) if d != 0 else F(0.0)
        hb, _ = _h(d)
        xs = blk * idv
        q = np.minimum(15, _c_float_to_int_trunc(xs + F(8.5)))
        out += hb + (q[:16] | (q[16:] << 4)).astype(np.uint8).tobytes()
    return bytes(out)


def quantize_row_q4_1_ref(x):
    """quantize_row_q4_1_ref: min/max over the block (min from FLT_MAX, max from -FLT_MAX), d = (max-min)/15,
    id = d ? 1/d : 0, stores fp16(d), fp16(min); q = MIN(15, (int8_t)((x-min)*id + 0.5f))."""
    out = bytearray()
    for blk in _f32arr(x).reshape(-1, 32):
        mn, mx = _min_max(blk)
        d = F(F(mx - mn) / F(15.0))
        idv = F(F(1.0) / d) if d != 0 else F(0.0)
        hd, _ = _h(d)
        hm, _ = _h(mn)
        xs = (blk - mn) * idv
        q = np.minimum(15, _c_float_to_int_trunc(xs + F(0.5)))
        out += hd + hm + (q[:16] | (q[16:] << 4)).astype(np.uint8).tobytes()
    return bytes(out)


def quantize_row_q5_0_ref(x):
    """quantize_row_q5_0_ref: d = max / -16, q = MIN(31, (int8_t)(x*id + 16.5f)); qs[j] = low 4 bits of
    q[j] | low 4 bits of q[j+16] << 4; bit 4 of q[j] -> qh bit j, of q[j+16] -> qh bit j+16 (qh is a
    little-endian uint32 memcpy'd into qh[4])."""
    out = bytearray()
    for blk in _f32arr(x).reshape(-1, 32):
        _, mx = _amax_signed_max(blk)
        d = F(mx / F(-16.0))
        idv = F(F(1.0) / d) if d != 0 else F(0.0)
        hb, _ = _h(d)
        xs = blk * idv
        q = np.minimum(31, _c_float_to_int_trunc(xs + F(16.5)))
        qh = 0
        for j in range(16):
            qh |= ((int(q[j]) & 0x10) >> 4) << j
            qh |= ((int(q[j + 16]) & 0x10) >> 4) << (j + 16)
        qs = ((q[:16] & 0x0F) | ((q[16:] & 0x0F) << 4)).astype(np.uint8)
        out += hb + qh.to_bytes(4, "little") + qs.tobytes()
    return bytes(out)


def quantize_row_q5_1_ref(x):
    """quantize_row_q5_1_ref: d = (max-min)/31, q = (uint8_t)((x-min)*id + 0.5f) (no MIN clamp in C),
    same qh/qs packing as Q5_0; stores fp16(d), fp16(min)."""
    out = bytearray()
    for blk in _f32arr(x).reshape(-1, 32):
        mn, mx = _min_max(blk)
        d = F(F(mx - mn) / F(31.0))
        idv = F(F(1.0) / d) if d != 0 else F(0.0)
        hd, _ = _h(d)
        hm, _ = _h(mn)
        xs = (blk - mn) * idv
        q = _c_float_to_int_trunc(xs + F(0.5)) & 0xFF
        qh = 0
        for j in range(16):
            qh |= ((int(q[j]) & 0x10) >> 4) << j
            qh |= ((int(q[j + 16]) & 0x10) >> 4) << (j + 16)
        qs = ((q[:16] & 0x0F) | ((q[16:] & 0x0F) << 4)).astype(np.uint8)
        out += hd + hm + qh.to_bytes(4, "little") + qs.tobytes()
    return bytes(out)


def _roundf(v):
    """C roundf: round half AWAY from zero (NOT Java Math.round, which rounds -2.5 to -2)."""
    a = _f32arr(v).astype(np.float64)            # exact widening
    return (np.sign(a) * np.floor(np.abs(a) + 0.5)).astype(np.int64)


def quantize_row_q8_0_ref(x):
    """quantize_row_q8_0_ref: amax = max |x| (MAX(amax, fabsf(v))), d = amax / 127, id = d ? 1/d : 0,
    qs[j] = roundf(x*id) (half away from zero)."""
    out = bytearray()
    for blk in _f32arr(x).reshape(-1, 32):
        amax = F(0.0)
        for v in blk:
            av = F(abs(v))
            amax = amax if amax > av else av       # C MAX(a,b) = ((a) > (b) ? (a) : (b))
        d = F(amax / F(127.0))
        idv = F(F(1.0) / d) if d != 0 else F(0.0)
        hb, _ = _h(d)
        q = _roundf(blk * idv)
        out += hb + q.astype(np.int8).tobytes()
    return bytes(out)


def dequantize_row_q4_0(data, n):
    """dequantize_row_q4_0: y[j] = ((qs[j] & 0xF) - 8) * d, y[j+16] = ((qs[j] >> 4) - 8) * d."""
    y = np.empty(n, dtype=F32)
    for i in range(n // 32):
        off = i * 18
        d = _half_at(data, off)
        qs = np.frombuffer(data, dtype=np.uint8, count=16, offset=off + 2).astype(np.int64)
        y[i * 32:i * 32 + 16] = ((qs & 0x0F) - 8).astype(F32) * d
        y[i * 32 + 16:i * 32 + 32] = ((qs >> 4) - 8).astype(F32) * d
    return y


def dequantize_row_q4_1(data, n):
    """dequantize_row_q4_1: y = q*d + m (two float32 ops: the product is rounded first)."""
    y = np.empty(n, dtype=F32)
    for i in range(n // 32):
        off = i * 20
        d = _half_at(data, off)
        m = _half_at(data, off + 2)
        qs = np.frombuffer(data, dtype=np.uint8, count=16, offset=off + 4).astype(np.int64)
        y[i * 32:i * 32 + 16] = (qs & 0x0F).astype(F32) * d + m
        y[i * 32 + 16:i * 32 + 32] = (qs >> 4).astype(F32) * d + m
    return y


def _q5_unpack(data, off_qh, off_qs):
    qh = int.from_bytes(data[off_qh:off_qh + 4], "little")
    qs = np.frombuffer(data, dtype=np.uint8, count=16, offset=off_qs).astype(np.int64)
    j = np.arange(16)
    xh0 = ((qh >> j) << 4) & 0x10
    xh1 = (qh >> (j + 12)) & 0x10
    return (qs & 0x0F) | xh0, (qs >> 4) | xh1


def dequantize_row_q5_0(data, n):
    """dequantize_row_q5_0: q = nibble | (qh bit << 4), y = (q - 16) * d."""
    y = np.empty(n, dtype=F32)
    for i in range(n // 32):
        off = i * 22
        d = _half_at(data, off)
        x0, x1 = _q5_unpack(data, off + 2, off + 6)
        y[i * 32:i * 32 + 16] = (x0 - 16).astype(F32) * d
        y[i * 32 + 16:i * 32 + 32] = (x1 - 16).astype(F32) * d
    return y


def dequantize_row_q5_1(data, n):
    """dequantize_row_q5_1: y = q*d + m."""
    y = np.empty(n, dtype=F32)
    for i in range(n // 32):
        off = i * 24
        d = _half_at(data, off)
        m = _half_at(data, off + 2)
        x0, x1 = _q5_unpack(data, off + 4, off + 8)
        y[i * 32:i * 32 + 16] = x0.astype(F32) * d + m
        y[i * 32 + 16:i * 32 + 32] = x1.astype(F32) * d + m
    return y


def dequantize_row_q8_0(data, n):
    """dequantize_row_q8_0: y = qs * d."""
    y = np.empty(n, dtype=F32)
    for i in range(n // 32):
        off = i * 34
        d = _half_at(data, off)
        qs = np.frombuffer(data, dtype=np.int8, count=32, offset=off + 2)
        y[i * 32:(i + 1) * 32] = qs.astype(F32) * d
    return y


# ----------------------------------------------------------------------------------------------------------
# K-quants (QK_K = 256)
# ----------------------------------------------------------------------------------------------------------

GROUP_MAX_EPS = F(1e-15)


def make_qkx2_quants(n, nmax, x, weights, rmin, rdelta, nstep, use_mad):
    """make_qkx2_quants(n, nmax, x, weights, L, &the_min, Laux, rmin, rdelta, nstep, use_mad).
    Returns (scale, the_min, L).  the_min is -min with min <= 0 (so it may be -0.0)."""
    x = _f32arr(x)
    w = _f32arr(weights)
    rmin = F(rmin)
    rdelta = F(rdelta)
    fnmax = F(nmax)
    mn = x[0]
    mx = x[0]
    for i in range(1, n):
        if x[i] < mn:
            mn = x[i]
        if x[i] > mx:
            mx = x[i]
    sum_w = _seq_sum(w[1:], init=w[0])
    sum_x = _seq_sum(w[1:] * x[1:], init=F(w[0] * x[0]))
    mn = F(mn)
    mx = F(mx)
    if mn > 0:
        mn = F(0.0)
    if mx == mn:
        return F(0.0), F(-mn), np.zeros(n, dtype=np.int64)
    iscale = F(fnmax / F(mx - mn))
    scale = F(F(1.0) / iscale)
    L = np.clip(nearest_int(iscale * (x - mn)), 0, nmax)
    Lf = L.astype(F32)
    diff = (scale * Lf + mn) - x
    diff = np.abs(diff) if use_mad else diff * diff
    best_error = _seq_sum(w * diff)
    if nstep < 1:
        return scale, F(-mn), L
    for is_ in range(nstep + 1):
        iscale = F(F(F(rmin + F(rdelta * F(is_))) + fnmax) / F(mx - mn))
        Laux = np.clip(nearest_int(iscale * (x - mn)), 0, nmax)
        lf = Laux.astype(F32)
        wl = w * lf
        sum_l = _seq_sum(wl)
        sum_l2 = _seq_sum(wl * lf)
        sum_xl = _seq_sum(wl * x)
        D = F(F(sum_w * sum_l2) - F(sum_l * sum_l))
        if D > 0:
            this_scale = F(F(F(sum_w * sum_xl) - F(sum_x * sum_l)) / D)
            this_min = F(F(F(sum_l2 * sum_x) - F(sum_l * sum_xl)) / D)
            if this_min > 0:
                this_min = F(0.0)
                this_scale = F(sum_xl / sum_l2)
            diff = (this_scale * lf + this_min) - x
            diff = np.abs(diff) if use_mad else diff * diff
            cur_error = _seq_sum(w * diff)
            if cur_error < best_error:
                L = Laux.copy()
                best_error = cur_error
                scale = this_scale
                mn = this_min
    return scale, F(-mn), L


def make_qx_quants(n, nmax, x, rmse_type, qw=None):
    """make_qx_quants(n, nmax, x, L, rmse_type, qw) for rmse_type 1 and qw == NULL (the only call used by
    quantize_row_q6_K_ref: make_qx_quants(16, 32, x, L, 1, NULL)).  Returns (scale, L) with L in [0, 2*nmax)."""
    assert rmse_type == 1 and qw is None
    x = _f32arr(x)
    amax, mx = _amax_signed_max(x)     # `if (ax > amax)` strict: same as `amax < ax`
    if amax < GROUP_MAX_EPS:
        return F(0.0), np.zeros(n, dtype=np.int64)
    fnmax = F(nmax)
    iscale = F(F(-fnmax) / mx)
    w = x * x                            # rmse_type 1: w = x[i]*x[i]
    l = np.clip(nearest_int(iscale * x), -nmax, nmax - 1)
    L = l + nmax
    lf = l.astype(F32)
    sumlx = _seq_sum((w * x) * lf)
    suml2 = _seq_sum((w * lf) * lf)
    scale = F(sumlx / suml2) if suml2 != 0 else F(0.0)
    best = F(scale * sumlx)
    for is_ in range(-9, 10):
        if is_ == 0:
            continue
        iscale = F(F(-F(fnmax + F(F(0.1) * F(is_)))) / mx)
        l = np.clip(nearest_int(iscale * x), -nmax, nmax - 1)
        lf = l.astype(F32)
        sumlx = _seq_sum((w * x) * lf)
        suml2 = _seq_sum((w * lf) * lf)
        if suml2 > 0 and F(sumlx * sumlx) > F(best * suml2):
            L = l + nmax
            scale = F(sumlx / suml2)
            best = F(scale * sumlx)
    return scale, L


def get_scale_min_k4(j, q):
    """get_scale_min_k4: 6-bit scale/min j (0..7) from the 12 packed bytes q."""
    if j < 4:
        return q[j] & 63, q[j + 4] & 63
    d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4)
    m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4)
    return d, m


def _quantize_qk_superblock(x, nmax, rmin, rdelta, nstep):
    """Shared body of quantize_row_q4_K_ref (nmax 15, rmin -1, rdelta 0.1, nstep 20) and
    quantize_row_q5_K_ref (nmax 31, rmin -0.5, rdelta 0.1, nstep 15) for one 256-value super-block.
    Returns (d bytes, dmin bytes, scales[12] bytes, L[256])."""
    L = np.zeros(QK_K, dtype=np.int64)
    scales = np.zeros(8, dtype=F32)
    mins = np.zeros(8, dtype=F32)
    max_scale = F(0.0)
    max_min = F(0.0)
    for j in range(8):
        xs = x[32 * j:32 * j + 32]
        sum_x2 = _seq_sum(xs * xs)
        av_x = F(np.sqrt(F(sum_x2 / F(32.0))))
        weights = av_x + np.abs(xs)
        sc, mn, Lj = make_qkx2_quants(32, nmax, xs, weights, rmin, rdelta, nstep, False)
        scales[j] = sc
        mins[j] = mn
        L[32 * j:32 * j + 32] = Lj
        if sc > max_scale:
            max_scale = sc
        if mn > max_min:
            max_min = mn
    inv_scale = F(F(63.0) / max_scale) if max_scale > 0 else F(0.0)
    inv_min = F(F(63.0) / max_min) if max_min > 0 else F(0.0)
    q = [0] * 12
    for j in range(8):
        ls = min(63, nearest_int(F(inv_scale * scales[j])) & 0xFF)   # uint8_t ls = nearest_int(...); MIN(63, ls)
        lm = min(63, nearest_int(F(inv_min * mins[j])) & 0xFF)
        if j < 4:
            q[j] = ls
            q[j + 4] = lm
        else:
            q[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4)
            q[j - 4] |= (ls >> 4) << 6
            q[j - 0] |= (lm >> 4) << 6
    q = [v & 0xFF for v in q]
    hd, dval = _h(F(max_scale / F(63.0)))
    hdm, dminval = _h(F(max_min / F(63.0)))
    for j in range(8):
        sc, m = get_scale_min_k4(j, q)
        d = F(dval * F(sc))
        if d == 0:
            continue          # L of this sub-block stays as make_qkx2_quants left it
        dm = F(dminval * F(m))
        l = nearest_int((x[32 * j:32 * j + 32] + dm) / d)
        L[32 * j:32 * j + 32] = np.clip(l, 0, nmax)
    return hd, hdm, bytes(q), L


def quantize_row_q4_K_ref(x):
    """quantize_row_q4_K_ref.  Block: d (fp16), dmin (fp16), scales[12], qs[128];
    qs[32*c + l] = L[64*c + l] | L[64*c + l + 32] << 4 for c = 0..3."""
    out = bytearray()
    for sb in _f32arr(x).reshape(-1, QK_K):
        hd, hdm, sc, L = _quantize_qk_superblock(sb, 15, -1.0, 0.1, 20)
        qs = np.empty(128, dtype=np.int64)
        for c in range(4):
            qs[32 * c:32 * c + 32] = L[64 * c:64 * c + 32] | (L[64 * c + 32:64 * c + 64] << 4)
        out += hd + hdm + sc + qs.astype(np.uint8).tobytes()
    return bytes(out)


def quantize_row_q5_K_ref(x):
    """quantize_row_q5_K_ref.  Block: d, dmin, scales[12], qh[32], qs[128].  For chunk c = 0..3 (64 values):
    l1 = L[64c + j], l2 = L[64c + j + 32]; if l1 > 15: l1 -= 16, qh[j] |= 1 << 2c; if l2 > 15: l2 -= 16,
    qh[j] |= 2 << 2c; qs[32c + j] = l1 | l2 << 4."""
    out = bytearray()
    for sb in _f32arr(x).reshape(-1, QK_K):
        hd, hdm, sc, L = _quantize_qk_superblock(sb, 31, -0.5, 0.1, 15)
        qh = np.zeros(32, dtype=np.int64)
        ql = np.empty(128, dtype=np.int64)
        m1, m2 = 1, 2
        for c in range(4):
            l1 = L[64 * c:64 * c + 32].copy()
            l2 = L[64 * c + 32:64 * c + 64].copy()
            h1 = l1 > 15
            h2 = l2 > 15
            l1[h1] -= 16
            l2[h2] -= 16
            qh[h1] |= m1
            qh[h2] |= m2
            ql[32 * c:32 * c + 32] = l1 | (l2 << 4)
            m1 <<= 2
            m2 <<= 2
        out += hd + hdm + sc + qh.astype(np.uint8).tobytes() + ql.astype(np.uint8).tobytes()
    return bytes(out)


def quantize_row_q6_K_ref(x):
    """quantize_row_q6_K_ref.  Block: ql[128], qh[64], scales[16] (int8), d (fp16, LAST).
    16 sub-blocks of 16: make_qx_quants(16, 32, ...); max_scale = the signed scale of largest |scale|;
    if that |scale| < 1e-15 the whole block is zero bytes; else iscale = -128/max_scale, d = fp16(1/iscale),
    scales[ib] = (int8) MIN(127, nearest_int(iscale*scales[ib])); requantise with
    l = nearest_int(x / (fp16(d)*scale)) clamped to [-32, 31] (skipped -- L kept from make_qx_quants -- when
    that product is 0); pack (per 128-value half h, l = 0..31):
    ql[64h + l] = L[128h+l] & 0xF | (L[128h+l+64] & 0xF) << 4, ql[64h+l+32] = L[128h+l+32] & 0xF | (L[128h+l+96] & 0xF) << 4,
    qh[32h + l] = L[128h+l]>>4 | (L[128h+l+32]>>4)<<2 | (L[128h+l+64]>>4)<<4 | (L[128h+l+96]>>4)<<6."""
    out = bytearray()
    for sb in _f32arr(x).reshape(-1, QK_K):
        L = np.zeros(QK_K, dtype=np.int64)
        scales = np.zeros(16, dtype=F32)
        max_scale = F(0.0)
        max_abs_scale = F(0.0)
        for ib in range(16):
            sc, Lb = make_qx_quants(16, 32, sb[16 * ib:16 * ib + 16], 1, None)
            scales[ib] = sc
            L[16 * ib:16 * ib + 16] = Lb
            a = F(abs(sc))
            if a > max_abs_scale:
                max_abs_scale = a
                max_scale = sc
        if max_abs_scale < GROUP_MAX_EPS:
            out += bytes(210)          # memset 0; d = fp16(0.f) = 0x0000
            continue
        iscale = F(F(-128.0) / max_scale)
        hd, dval = _h(F(F(1.0) / iscale))
        # int8_t scales[ib] = MIN(127, nearest_int(iscale*scales[ib]))  (int -> int8 conversion wraps)
        sc8 = np.array([((min(127, nearest_int(F(iscale * scales[ib]))) + 128) & 0xFF) - 128
                        for ib in range(16)], dtype=np.int64)
        for j in range(16):
            d = F(dval * F(sc8[j]))
            if d == 0:
                continue
            l = nearest_int(sb[16 * j:16 * j + 16] / d)
            L[16 * j:16 * j + 16] = np.clip(l, -32, 31) + 32
        ql = np.empty(128, dtype=np.int64)
        qh = np.empty(64, dtype=np.int64)
        for h in range(2):
            b = 128 * h
            L0, L1, L2, L3 = L[b:b + 32], L[b + 32:b + 64], L[b + 64:b + 96], L[b + 96:b + 128]
            ql[64 * h:64 * h + 32] = (L0 & 0xF) | ((L2 & 0xF) << 4)
            ql[64 * h + 32:64 * h + 64] = (L1 & 0xF) | ((L3 & 0xF) << 4)
            qh[32 * h:32 * h + 32] = (L0 >> 4) | ((L1 >> 4) << 2) | ((L2 >> 4) << 4) | ((L3 >> 4) << 6)
        out += (ql.astype(np.uint8).tobytes() + qh.astype(np.uint8).tobytes()
                + sc8.astype(np.int8).tobytes() + hd)
    return bytes(out)


def _kq_dequant(data, n, bsz, high_bit):
    y = np.empty(n, dtype=F32)
    for i in range(n // QK_K):
        off = i * bsz
        d = _half_at(data, off)
        mn = _half_at(data, off + 2)
        q = list(data[off + 4:off + 16])
        if high_bit:
            qh = np.frombuffer(data, dtype=np.uint8, count=32, offset=off + 16).astype(np.int64)
            qs = np.frombuffer(data, dtype=np.uint8, count=128, offset=off + 48).astype(np.int64)
        else:
            qs = np.frombuffer(data, dtype=np.uint8, count=128, offset=off + 16).astype(np.int64)
        u1, u2 = 1, 2
        for c in range(4):
            sc, m = get_scale_min_k4(2 * c, q)
            d1, m1 = F(d * F(sc)), F(mn * F(m))
            sc, m = get_scale_min_k4(2 * c + 1, q)
            d2, m2 = F(d * F(sc)), F(mn * F(m))
            lo = qs[32 * c:32 * c + 32] & 0xF
            hi = qs[32 * c:32 * c + 32] >> 4
            if high_bit:
                lo = lo + np.where(qh & u1, 16, 0)
                hi = hi + np.where(qh & u2, 16, 0)
            base = i * QK_K + 64 * c
            y[base:base + 32] = d1 * lo.astype(F32) - m1
            y[base + 32:base + 64] = d2 * hi.astype(F32) - m2
            u1 <<= 2
            u2 <<= 2
    return y


def dequantize_row_q4_K(data, n):
    """dequantize_row_q4_K: for each 64-value chunk c: y = (d*sc[2c]) * (qs & 0xF) - dmin*m[2c] for the first
    32, (d*sc[2c+1]) * (qs >> 4) - dmin*m[2c+1] for the next 32 (d1 = d*sc and m1 = dmin*m are rounded
    to float32 first)."""
    return _kq_dequant(data, n, 144, False)


def dequantize_row_q5_K(data, n):
    """dequantize_row_q5_K: as Q4_K with q = nibble + (qh[l] & (1 << 2c) ? 16 : 0) / (qh[l] & (2 << 2c) ? 16 : 0)."""
    return _kq_dequant(data, n, 176, True)


def dequantize_row_q6_K(data, n):
    """dequantize_row_q6_K: y = (d * scales[is]) * q with q = 6-bit value - 32 (see quantize_row_q6_K_ref
    for the packing); is = l/16 + {0,2,4,6} within each 128-value half."""
    y = np.empty(n, dtype=F32)
    for i in range(n // QK_K):
        off = i * 210
        ql_all = np.frombuffer(data, dtype=np.uint8, count=128, offset=off).astype(np.int64)
        qh_all = np.frombuffer(data, dtype=np.uint8, count=64, offset=off + 128).astype(np.int64)
        sc_all = np.frombuffer(data, dtype=np.int8, count=16, offset=off + 192).astype(np.int64)
        d = _half_at(data, off + 208)
        for h in range(2):
            ql = ql_all[64 * h:64 * h + 64]
            qh = qh_all[32 * h:32 * h + 32]
            sc = sc_all[8 * h:8 * h + 8]
            l = np.arange(32)
            is_ = l // 16
            q1 = ((ql[l] & 0xF) | (((qh >> 0) & 3) << 4)) - 32
            q2 = ((ql[l + 32] & 0xF) | (((qh >> 2) & 3) << 4)) - 32
            q3 = ((ql[l] >> 4) | (((qh >> 4) & 3) << 4)) - 32
            q4 = ((ql[l + 32] >> 4) | (((qh >> 6) & 3) << 4)) - 32
            base = i * QK_K + 128 * h
            y[base:base + 32] = (d * sc[is_ + 0].astype(F32)) * q1.astype(F32)
            y[base + 32:base + 64] = (d * sc[is_ + 2].astype(F32)) * q2.astype(F32)
            y[base + 64:base + 96] = (d * sc[is_ + 4].astype(F32)) * q3.astype(F32)
            y[base + 96:base + 128] = (d * sc[is_ + 6].astype(F32)) * q4.astype(F32)
    return y


# ----------------------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------------------

_QUANT = {
    "F32": lambda x: _f32arr(x).astype("<f4").tobytes(),
    "F16": lambda x: fp32_to_fp16_bits(x).astype("<u2").tobytes(),
    "BF16": lambda x: fp32_to_bf16_bits(x).astype("<u2").tobytes(),
    "Q8_0": quantize_row_q8_0_ref,
    "Q4_0": quantize_row_q4_0_ref,
    "Q4_1": quantize_row_q4_1_ref,
    "Q5_0": quantize_row_q5_0_ref,
    "Q5_1": quantize_row_q5_1_ref,
    "Q4_K": quantize_row_q4_K_ref,
    "Q5_K": quantize_row_q5_K_ref,
    "Q6_K": quantize_row_q6_K_ref,
}

_DEQUANT = {
    "F32": lambda data, n: np.frombuffer(data, dtype="<f4", count=n).astype(F32),
    "F16": lambda data, n: fp16_bits_to_fp32(np.frombuffer(data, dtype="<u2", count=n)),
    "BF16": lambda data, n: bf16_bits_to_fp32(np.frombuffer(data, dtype="<u2", count=n)),
    "Q8_0": dequantize_row_q8_0,
    "Q4_0": dequantize_row_q4_0,
    "Q4_1": dequantize_row_q4_1,
    "Q5_0": dequantize_row_q5_0,
    "Q5_1": dequantize_row_q5_1,
    "Q4_K": dequantize_row_q4_K,
    "Q5_K": dequantize_row_q5_K,
    "Q6_K": dequantize_row_q6_K,
}


def type_size(type_name, n):
    """bytes for n values (ggml_row_size)"""
    _, bs, ts = TYPES[type_name]
    assert n % bs == 0, f"{type_name}: n={n} not a multiple of block size {bs}"
    return n // bs * ts


def quantize(type_name, x):
    """float32 values -> the GGUF tensor bytes of ggml type `type_name` (its reference quantiser)."""
    x = _f32arr(x)
    type_size(type_name, x.size)
    with np.errstate(all="ignore"):
        out = _QUANT[type_name](x)
    assert len(out) == type_size(type_name, x.size)
    return out


def dequantize(type_name, data, n):
    """GGUF tensor bytes of ggml type `type_name` -> n float32 values (ggml's dequantize_row_* / to_float)."""
    data = bytes(data)
    assert len(data) == type_size(type_name, n), (type_name, len(data), n)
    with np.errstate(all="ignore"):
        return _f32arr(_DEQUANT[type_name](data, n))
