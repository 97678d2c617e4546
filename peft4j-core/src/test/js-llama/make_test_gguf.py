#!/usr/bin/env python3
"""
make_test_gguf.py -- a dependency-free (python3 + numpy) writer of GGUF v3 files that the REAL
llama.cpp loads, used by peft4j as a test aid and as an executable spec cross-check for the Java
GGUF exporter.  It does NOT use the `gguf` pip package: every byte is written here.

Subcommands
  convert MODEL_DIR OUT.gguf [--untied] [--name NAME]
        HF Llama (config.json + model.safetensors + tokenizer.json [+ tokenizer_config.json])
        -> F32 GGUF v3, architecture "llama", tokenizer "llama" (SentencePiece-style BPE).
  lora PEFT_DIR OUT.gguf --base MODEL_DIR
        HF PEFT LoRA (adapter_config.json + adapter_model.safetensors) -> F32 GGUF v3 LoRA adapter.
  dump FILE.gguf                 print header, metadata and tensor infos (reads GGUF v1, v2 and v3)
  compare A.gguf B.gguf          compare tensors by name (max |a-b|), e.g. our v3 output vs the v1 file

Checked with node-llama-cpp 3.21.1's prebuilt llama.cpp (see README.md in this directory).

=====================================================================================================
FORMAT NOTES (every detail below had to be right for llama.cpp to load the file / give the same output)
Sources: llama.cpp ggml/include/gguf.h, ggml/src/gguf.cpp, src/llama-vocab.cpp, src/llama-model.cpp,
src/models/llama.cpp, src/llama-model-loader.cpp, src/llama-adapter.cpp, gguf-py/gguf/constants.py,
gguf-py/gguf/gguf_writer.py, conversion/llama.py (convert_hf_to_gguf), convert_lora_to_gguf.py, all at
the commit bundled with node-llama-cpp 3.21.1 (llama.cpp 80fb11ac73e6...).

File layout (all little-endian):
  magic  "GGUF" (bytes 47 47 55 46)                  -- bytes 0..3
  uint32 version = 3                                 -- bytes 4..7. v1 is REFUSED by llama.cpp
                                                        ("GGUFv1 is no longer supported"); v1 used uint32 for
                                                        counts/string lengths, v2+ use uint64.
  uint64 n_tensors, uint64 n_kv                      -- (the header says int64; values are >= 0)
  n_kv x { string key; uint32 value_type; value }
  n_tensors x { string name; uint32 n_dims; uint64 ne[n_dims]; uint32 ggml_type; uint64 offset }
  zero padding up to a multiple of ALIGNMENT (absolute file offset)
  tensor data blob: each tensor at its `offset` (relative to the blob start), each padded with zeros
  to a multiple of ALIGNMENT.  We also pad after the LAST tensor (gguf_writer.py does; gguf.cpp
  computes the blob size as the sum of PADDED sizes).
  * string = uint64 byte length + UTF-8 bytes, NO terminating NUL.
  * bool = 1 byte (0/1).  Enums are int32/uint32.
  * value_type ids: UINT8 0, INT8 1, UINT16 2, INT16 3, UINT32 4, INT32 5, FLOAT32 6, BOOL 7, STRING 8,
    ARRAY 9, UINT64 10, INT64 11, FLOAT64 12.
  * array value = uint32 element_type + uint64 count + elements (strings each with their uint64 len).
    Empty arrays are rejected by gguf_writer.py (do not write them).
  * ALIGNMENT = 32 unless key "general.alignment" is present; if present it MUST be type UINT32 and a
    power of two.  We write it explicitly (UINT32 32).
  * gguf.cpp is strict about tensor offsets: tensor i's offset must equal the sum of the PADDED sizes
    of tensors 0..i-1 in the order of the tensor-info table (no gaps, no reordering).
  * tensor name length must be < 64 bytes (GGML_MAX_NAME); names must be unique.
  * ne[] is ggml order = REVERSED numpy/PyTorch shape: ne[0] is the fastest-varying (contiguous) dim.
    A PyTorch Linear weight [out, in] (row-major) is written byte-for-byte as is, with ne = [in, out].
    token_embd [vocab, dim] -> ne = [dim, vocab].  1-D norms: ne = [dim].
  * ggml types: F32 0, F16 1, Q8_0 8, BF16 30.  general.file_type (UINT32): 0 = ALL_F32,
    1 = MOSTLY_F16, 32 = MOSTLY_BF16 (informational).
  * llama.cpp's model loader checks KV types STRICTLY ("key X has wrong type"): every u32 key below
    must be UINT32 (not INT32/UINT64), every float FLOAT32 (not FLOAT64), bools BOOL.

Model metadata for architecture "llama" (prefix = value of general.architecture):
  general.architecture  STRING "llama"          general.name STRING   general.file_type UINT32 0
  llama.context_length UINT32 (max_position_embeddings)   llama.embedding_length UINT32 (hidden_size)
  llama.block_count UINT32           llama.feed_forward_length UINT32 (intermediate_size)
  llama.attention.head_count UINT32  llama.attention.head_count_kv UINT32
  llama.attention.layer_norm_rms_epsilon FLOAT32 (REQUIRED for llama)
  llama.rope.freq_base FLOAT32 (rope_theta; default 10000 if absent)
  llama.rope.dimension_count UINT32 (= head_dim; llama asserts n_rot == head_dim)
  llama.vocab_size UINT32 (optional; convert_hf_to_gguf writes it)

Tensor names (HF -> GGUF), all F32 here:
  model.embed_tokens.weight            -> token_embd.weight        ne [dim, vocab]
  model.layers.N.input_layernorm       -> blk.N.attn_norm.weight   ne [dim]
  model.layers.N.self_attn.q_proj      -> blk.N.attn_q.weight      ne [dim, n_head*hd]      (PERMUTED)
  model.layers.N.self_attn.k_proj      -> blk.N.attn_k.weight      ne [dim, n_kv_head*hd]   (PERMUTED)
  model.layers.N.self_attn.v_proj      -> blk.N.attn_v.weight      ne [dim, n_kv_head*hd]
  model.layers.N.self_attn.o_proj      -> blk.N.attn_output.weight ne [n_head*hd, dim]
  model.layers.N.post_attention_layernorm -> blk.N.ffn_norm.weight ne [dim]
  model.layers.N.mlp.gate_proj         -> blk.N.ffn_gate.weight    ne [dim, ff]
  model.layers.N.mlp.up_proj           -> blk.N.ffn_up.weight      ne [dim, ff]
  model.layers.N.mlp.down_proj         -> blk.N.ffn_down.weight    ne [ff, dim]
  model.norm.weight                    -> output_norm.weight       ne [dim]
  lm_head.weight                       -> output.weight            ne [dim, vocab]
  Tied embeddings: llama.cpp's llama model creates `output` with TENSOR_NOT_REQUIRED and, when it is
  absent, re-uses token_embd.weight (TENSOR_DUPLICATED).  So for tie_word_embeddings=true simply omit
  output.weight (convert_hf_to_gguf does too).  Caveat: a LoRA adapter cannot then target lm_head
  (llama.cpp looks the base tensor up by name and "output.weight" does not exist) -> if a LoRA targets
  lm_head on a tied model, write an explicit (copied) output.weight in the base GGUF (--untied here).

Q/K permutation (HF "rotate_half" RoPE layout -> llama.cpp's LLAMA rope = adjacent pairs):
  llama.cpp's LlamaModel.permute(w, n_head): w.reshape(n_head, 2, rows//n_head//2, *rest)
  .swapaxes(1, 2).reshape(w.shape), applied to q_proj with n_head and to k_proj with n_kv_head.
  Row-index form, hd = head_dim, per head h, i in [0, hd/2), s in {0, 1}:
      gguf_row[h*hd + 2*i + s] = hf_row[h*hd + s*(hd/2) + i]
  i.e. GGUF interleaves the two halves of each HF head.  Only rows (output features) move; biases, if
  any, are permuted the same way.  Verified here: converting the HF stories260K (whose q/k were
  permuted for rotate_half from llama2.c) gives q/k tensors bit-identical to the original
  llama2.c-exported GGUF v1 file.
  For LoRA, only lora_B of q/k (its rows = output features) is permuted with the same function;
  lora_A is unchanged.

Tokenizer metadata for a Llama-2-style SentencePiece BPE with byte fallback (tokenizer.ggml.model
"llama" -> LLAMA_VOCAB_TYPE_SPM):
  tokenizer.ggml.model STRING "llama"     tokenizer.ggml.pre STRING "default" (ignored for SPM)
  tokenizer.ggml.tokens ARRAY<STRING>  -- id order, length MUST equal the embedding rows (n_vocab is
       taken from this list; token_embd ne[1] must match).  Pieces verbatim: U+2581 '▁' for spaces,
       byte pieces "<0x0A>" (upper-case hex, llama.cpp looks them up with "<0x%02X>").
  tokenizer.ggml.scores ARRAY<FLOAT32> -- used by llama.cpp's SPM merge loop: among adjacent symbol
       pairs whose concatenation is a vocab piece, the one whose piece has the HIGHEST score merges
       first (ties: leftmost).  tokenizer.json has no scores, only BPE merges (rank = priority), so
       we derive score(piece) = -(rank of the first merge producing piece); specials/bytes 0.0;
       pieces no merge produces (single characters) -(n_merges + id) (never used as merge results).
       NOTE: convert_hf_to_gguf's LlamaHfVocab writes -1000.0 for EVERY token, which makes llama.cpp
       merge left-to-right instead of by priority -- do not copy that.  Checked: on stories260K our
       scores order the merge pieces exactly like the original SentencePiece scores (-(id-259)).
  tokenizer.ggml.token_type ARRAY<INT32> -- NORMAL 1, UNKNOWN 2 (<unk>), CONTROL 3 (<s>, </s>,
       other special added tokens), USER_DEFINED 4 (non-special added tokens), UNUSED 5, BYTE 6
       (<0xNN> pieces).  Must be INT32 (llama.cpp rejects other element types).
  tokenizer.ggml.bos_token_id / eos_token_id / unknown_token_id [/ padding_token_id] UINT32
  tokenizer.ggml.add_bos_token BOOL (tokenizer_config add_bos_token; SPM default true)
  tokenizer.ggml.add_eos_token BOOL (tokenizer_config add_eos_token; SPM default false)
  tokenizer.ggml.add_space_prefix BOOL (true when the normalizer/pre-tokenizer prepends '▁', as
       Llama-2's does; SPM default true)

LoRA adapter GGUF (llama.cpp src/llama-adapter.cpp, convert_lora_to_gguf.py):
  general.type STRING "adapter"   general.architecture STRING "llama" (must equal the base model's)
  adapter.type STRING "lora"      adapter.lora.alpha FLOAT32
  tensors "<base gguf tensor name>.lora_a" and ".lora_b" (e.g. blk.0.attn_q.weight.lora_a):
     lora_a = PEFT lora_A [r, in] written as is -> ne [in, r]
     lora_b = PEFT lora_B [out, r] written as is -> ne [r, out]   (q/k: rows permuted as above)
  llama.cpp: delta_y = scale * B(A x) with scale = user_scale * alpha / r, r = lora_b ne[0];
  if alpha == 0 then scale = user_scale.  PEFT rsLoRA (alpha/sqrt(r)) => write alpha*sqrt(r).
  Per-module alpha/rank patterns cannot be expressed except through r (alpha is global).
  DoRA magnitude vectors are not supported by llama.cpp (refuse them).
=====================================================================================================
"""
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------------------- GGUF primitives
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY, \
    T_UINT64, T_INT64, T_FLOAT64 = range(13)
_SCALAR_FMT = {T_UINT8: "B", T_INT8: "b", T_UINT16: "H", T_INT16: "h", T_UINT32: "I", T_INT32: "i",
               T_FLOAT32: "f", T_BOOL: "?", T_UINT64: "Q", T_INT64: "q", T_FLOAT64: "d"}
GGML_F32, GGML_F16, GGML_BF16 = 0, 1, 30
TOK_NORMAL, TOK_UNKNOWN, TOK_CONTROL, TOK_USER_DEFINED, TOK_UNUSED, TOK_BYTE = 1, 2, 3, 4, 5, 6
ALIGNMENT = 32


def _pad(n, a=ALIGNMENT):
    return (n + a - 1) // a * a


def _str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _val(vtype, v):
    if vtype == T_STRING:
        return _str(v)
    return struct.pack("<" + _SCALAR_FMT[vtype], v)


class GGUFWriter:
    def __init__(self):
        self.kv = []        # (key, type, value, elem_type)
        self.tensors = []   # (name, np.ndarray float32/float16, ggml_type)

    def add(self, key, vtype, value):
        assert all(k != key for k, *_ in self.kv), f"duplicate key {key}"
        self.kv.append((key, vtype, value, None))

    def add_array(self, key, elem_type, values):
        assert len(values) > 0, "empty arrays are not allowed"
        self.kv.append((key, T_ARRAY, list(values), elem_type))

    def add_tensor(self, name, arr):
        assert len(name.encode()) < 64, name
        assert all(n != name for n, *_ in self.tensors), f"duplicate tensor {name}"
        arr = np.ascontiguousarray(arr)
        if arr.dtype == np.float32:
            t = GGML_F32
        elif arr.dtype == np.float16:
            t = GGML_F16
        else:
            raise ValueError(f"unsupported dtype {arr.dtype} for {name}")
        self.tensors.append((name, arr, t))

    def write(self, path):
        out = bytearray()
        out += b"GGUF" + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))
        for key, vtype, value, et in self.kv:
            out += _str(key) + struct.pack("<I", vtype)
            if vtype == T_ARRAY:
                out += struct.pack("<IQ", et, len(value))
                if et == T_STRING:
                    for v in value:
                        out += _str(v)
                else:
                    out += np.asarray(value, dtype="<" + _SCALAR_FMT[et]).tobytes()
            else:
                out += _val(vtype, value)
        offset = 0
        for name, arr, t in self.tensors:
            ne = list(reversed(arr.shape))              # ggml order: ne[0] = innermost
            out += _str(name) + struct.pack("<I", len(ne))
            out += b"".join(struct.pack("<Q", d) for d in ne)
            out += struct.pack("<IQ", t, offset)
            offset += _pad(arr.nbytes)
        out += b"\0" * (_pad(len(out)) - len(out))       # align the start of the data blob
        for name, arr, t in self.tensors:
            b = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
            out += b + b"\0" * (_pad(len(b)) - len(b))
        Path(path).write_bytes(bytes(out))
        return len(out)


# ---------------------------------------------------------------------------- GGUF reader (v1..v3)
def read_gguf(path):
    b = Path(path).read_bytes()
    o = 0

    def u(fmt):
        nonlocal o
        v = struct.unpack_from("<" + fmt, b, o)[0]
        o += struct.calcsize(fmt)
        return v

    if b[:4] != b"GGUF":
        raise ValueError("not a GGUF file")
    o = 4
    ver = u("I")
    cnt = (lambda: u("I")) if ver == 1 else (lambda: u("Q"))   # v1: 32-bit counts and lengths

    def s():
        nonlocal o
        n = cnt()
        r = b[o:o + n]
        o += n
        return r.decode("utf-8", errors="replace")

    def val(t):
        if t == T_STRING:
            return s()
        if t == T_ARRAY:
            et = u("I")
            n = cnt()
            return [val(et) for _ in range(n)], et
        return u(_SCALAR_FMT[t])

    n_t, n_kv = cnt(), cnt()
    kv, kvt = {}, {}
    for _ in range(n_kv):
        k = s()
        t = u("I")
        kv[k] = val(t)
        kvt[k] = t
    infos = []
    for _ in range(n_t):
        name = s()
        nd = u("I")
        ne = [cnt() for _ in range(nd)]
        t = u("I")
        off = u("Q")
        infos.append((name, ne, t, off))
    align = kv.get("general.alignment", ALIGNMENT)
    start = _pad(o, align)
    tensors = {}
    for name, ne, t, off in infos:
        dt = {GGML_F32: "<f4", GGML_F16: "<f2"}.get(t)
        if dt is None:
            continue
        n = int(np.prod(ne))
        tensors[name] = np.frombuffer(b, dtype=dt, count=n, offset=start + off).reshape(list(reversed(ne)))
    return dict(version=ver, kv=kv, kv_types=kvt, infos=infos, tensors=tensors, header_end=o, data_start=start)


# ---------------------------------------------------------------------------- safetensors reader
def read_safetensors(path):
    b = Path(path).read_bytes()
    n = struct.unpack_from("<Q", b, 0)[0]
    hdr = json.loads(b[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in hdr.items():
        if name == "__metadata__":
            continue
        s, e = info["data_offsets"]
        raw = b[base + s:base + e]
        dt = info["dtype"]
        if dt == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"unsupported safetensors dtype {dt} ({name})")
        out[name] = a.reshape(info["shape"]).astype(np.float32)
    return out


# ---------------------------------------------------------------------------- llama specifics
def permute_qk(w, n_head):
    """HF rotate_half layout -> llama.cpp adjacent-pair layout (== convert_hf_to_gguf permute)."""
    rows = w.shape[0]
    return (w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2)
            .reshape(w.shape))


def load_config(model_dir):
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    if cfg.get("model_type") != "llama":
        raise SystemExit(f"only model_type=llama is handled, got {cfg.get('model_type')}")
    return cfg


def build_vocab(model_dir, n_vocab):
    """tokens, scores, token types and special-token keys from tokenizer.json (Llama-2 style)."""
    d = Path(model_dir)
    tj = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
    tc_path = d / "tokenizer_config.json"
    tc = json.loads(tc_path.read_text(encoding="utf-8")) if tc_path.exists() else {}
    m = tj["model"]
    if m.get("type") != "BPE" or not m.get("byte_fallback", False):
        raise SystemExit("expected a SentencePiece-style BPE tokenizer.json with byte_fallback")
    id2tok = {i: t for t, i in m["vocab"].items()}
    added = {a["id"]: a for a in tj.get("added_tokens", [])}
    for i, a in added.items():
        id2tok.setdefault(i, a["content"])
    size = max(n_vocab, max(id2tok) + 1)
    if size != n_vocab:
        raise SystemExit(f"tokenizer has ids up to {size - 1} but the embedding has {n_vocab} rows")

    merges = m.get("merges", [])
    rank = {}
    for r, mg in enumerate(merges):
        a, b2 = mg.split(" ", 1) if isinstance(mg, str) else mg
        rank.setdefault(a + b2, r)

    unk = m.get("unk_token")
    tokens, scores, types = [], [], []
    for i in range(n_vocab):
        t = id2tok.get(i)
        if t is None:                                   # hole in the id space (padding rows)
            tokens.append(f"[PAD{i}]")
            scores.append(-1e9)
            types.append(TOK_UNUSED)
            continue
        tokens.append(t)
        if i in added and added[i].get("special", False):
            types.append(TOK_UNKNOWN if t == unk else TOK_CONTROL)
            scores.append(0.0)
        elif i in added:
            types.append(TOK_USER_DEFINED)
            scores.append(0.0)
        elif t == unk:
            types.append(TOK_UNKNOWN)
            scores.append(0.0)
        elif len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            types.append(TOK_BYTE)
            scores.append(0.0)
        else:
            types.append(TOK_NORMAL)
            scores.append(-float(rank[t]) if t in rank else -float(len(merges) + i))

    def tok_id(key):
        v = tc.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        if v is None:
            return None
        return m["vocab"].get(v, next((a["id"] for a in added.values() if a["content"] == v), None))

    specials = {"bos": tok_id("bos_token"), "eos": tok_id("eos_token"), "unk": tok_id("unk_token"),
                "pad": tok_id("pad_token")}
    # add_space_prefix: Llama-2 tokenizer.json normalizer = [Prepend '▁', Replace ' ' -> '▁'];
    # newer ones use a Metaspace pre-tokenizer with prepend_scheme first/always/never.
    add_space_prefix = True
    js = json.dumps(tj.get("normalizer")) + json.dumps(tj.get("pre_tokenizer"))
    if '"Metaspace"' in js and '"never"' in js:
        add_space_prefix = False
    elif '"Prepend"' not in js and '"Metaspace"' not in js:
        add_space_prefix = False
    return dict(tokens=tokens, scores=scores, types=types, specials=specials,
                add_bos=bool(tc.get("add_bos_token", True)), add_eos=bool(tc.get("add_eos_token", False)),
                add_space_prefix=add_space_prefix)


def cmd_convert(model_dir, out, untied=False, name=None):
    cfg = load_config(model_dir)
    st = read_safetensors(Path(model_dir) / "model.safetensors")
    dim, n_layer = cfg["hidden_size"], cfg["num_hidden_layers"]
    n_head = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads", n_head)
    head_dim = cfg.get("head_dim") or dim // n_head
    emb = st["model.embed_tokens.weight"]
    n_vocab = emb.shape[0]
    voc = build_vocab(model_dir, n_vocab)

    w = GGUFWriter()
    w.add("general.architecture", T_STRING, "llama")
    w.add("general.name", T_STRING, name or Path(model_dir).name)
    w.add("general.alignment", T_UINT32, ALIGNMENT)
    w.add("general.file_type", T_UINT32, 0)  # ALL_F32
    w.add("llama.vocab_size", T_UINT32, n_vocab)
    w.add("llama.context_length", T_UINT32, cfg.get("max_position_embeddings", 2048))
    w.add("llama.embedding_length", T_UINT32, dim)
    w.add("llama.block_count", T_UINT32, n_layer)
    w.add("llama.feed_forward_length", T_UINT32, cfg["intermediate_size"])
    w.add("llama.attention.head_count", T_UINT32, n_head)
    w.add("llama.attention.head_count_kv", T_UINT32, n_kv)
    w.add("llama.attention.layer_norm_rms_epsilon", T_FLOAT32, float(cfg.get("rms_norm_eps", 1e-6)))
    w.add("llama.rope.freq_base", T_FLOAT32, float(cfg.get("rope_theta", 10000.0)))
    w.add("llama.rope.dimension_count", T_UINT32, head_dim)
    if head_dim != dim // n_head:
        w.add("llama.attention.key_length", T_UINT32, head_dim)
        w.add("llama.attention.value_length", T_UINT32, head_dim)
    if cfg.get("rope_scaling"):
        raise SystemExit("rope_scaling is not handled by this test converter")

    w.add("tokenizer.ggml.model", T_STRING, "llama")
    w.add("tokenizer.ggml.pre", T_STRING, "default")
    w.add_array("tokenizer.ggml.tokens", T_STRING, voc["tokens"])
    w.add_array("tokenizer.ggml.scores", T_FLOAT32, voc["scores"])
    w.add_array("tokenizer.ggml.token_type", T_INT32, voc["types"])
    sp = voc["specials"]
    bos = sp["bos"] if sp["bos"] is not None else cfg.get("bos_token_id")
    eos = sp["eos"] if sp["eos"] is not None else cfg.get("eos_token_id")
    if bos is not None:
        w.add("tokenizer.ggml.bos_token_id", T_UINT32, int(bos))
    if eos is not None:
        w.add("tokenizer.ggml.eos_token_id", T_UINT32, int(eos))
    if sp["unk"] is not None:
        w.add("tokenizer.ggml.unknown_token_id", T_UINT32, int(sp["unk"]))
    if sp["pad"] is not None:
        w.add("tokenizer.ggml.padding_token_id", T_UINT32, int(sp["pad"]))
    w.add("tokenizer.ggml.add_bos_token", T_BOOL, voc["add_bos"])
    w.add("tokenizer.ggml.add_eos_token", T_BOOL, voc["add_eos"])
    w.add("tokenizer.ggml.add_space_prefix", T_BOOL, voc["add_space_prefix"])

    w.add_tensor("token_embd.weight", emb)
    for i in range(n_layer):
        p = f"model.layers.{i}."
        w.add_tensor(f"blk.{i}.attn_norm.weight", st[p + "input_layernorm.weight"])
        w.add_tensor(f"blk.{i}.attn_q.weight", permute_qk(st[p + "self_attn.q_proj.weight"], n_head))
        w.add_tensor(f"blk.{i}.attn_k.weight", permute_qk(st[p + "self_attn.k_proj.weight"], n_kv))
        w.add_tensor(f"blk.{i}.attn_v.weight", st[p + "self_attn.v_proj.weight"])
        w.add_tensor(f"blk.{i}.attn_output.weight", st[p + "self_attn.o_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_norm.weight", st[p + "post_attention_layernorm.weight"])
        w.add_tensor(f"blk.{i}.ffn_gate.weight", st[p + "mlp.gate_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_up.weight", st[p + "mlp.up_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_down.weight", st[p + "mlp.down_proj.weight"])
        for bias in ("q_proj", "k_proj", "v_proj", "o_proj"):
            if p + f"self_attn.{bias}.bias" in st:
                raise SystemExit("attention biases are not handled by this test converter")
    w.add_tensor("output_norm.weight", st["model.norm.weight"])
    tied = cfg.get("tie_word_embeddings", False) or "lm_head.weight" not in st
    if not tied:
        w.add_tensor("output.weight", st["lm_head.weight"])
    elif untied:
        w.add_tensor("output.weight", emb.copy())
    n = w.write(out)
    print(f"wrote {out}: {n} bytes, {len(w.tensors)} tensors, {len(w.kv)} kv, "
          f"output.weight {'written' if (not tied or untied) else 'omitted (tied -> token_embd)'}")


_LORA_TARGETS = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def cmd_lora(peft_dir, out, base_dir):
    cfg = load_config(base_dir)
    acfg = json.loads((Path(peft_dir) / "adapter_config.json").read_text())
    if acfg.get("peft_type") != "LORA" or acfg.get("use_dora"):
        raise SystemExit("only plain LoRA (no DoRA) is representable in a llama.cpp adapter")
    if acfg.get("rank_pattern") or acfg.get("alpha_pattern"):
        raise SystemExit("rank/alpha patterns are not handled by this test converter")
    r, alpha = acfg["r"], float(acfg["lora_alpha"])
    if acfg.get("use_rslora"):
        alpha = alpha * math.sqrt(r)         # llama.cpp uses alpha/r; rsLoRA wants alpha/sqrt(r)
    st = read_safetensors(Path(peft_dir) / "adapter_model.safetensors")
    n_head = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads", n_head)

    w = GGUFWriter()
    w.add("general.architecture", T_STRING, "llama")
    w.add("general.type", T_STRING, "adapter")
    w.add("general.name", T_STRING, Path(peft_dir).name)
    w.add("general.alignment", T_UINT32, ALIGNMENT)
    w.add("adapter.type", T_STRING, "lora")
    w.add("adapter.lora.alpha", T_FLOAT32, alpha)
    pairs = {}
    for k, v in st.items():
        # base_model.model.model.layers.{L}.self_attn.q_proj.lora_A.weight
        if ".lora_A." in k or ".lora_B." in k:
            stem, ab = (k.split(".lora_A.")[0], "a") if ".lora_A." in k else (k.split(".lora_B.")[0], "b")
            pairs.setdefault(stem, {})[ab] = v
        else:
            raise SystemExit(f"unsupported adapter tensor {k}")
    for stem in sorted(pairs, key=lambda s: (int(s.split("layers.")[1].split(".")[0]), s)):
        layer = int(stem.split("layers.")[1].split(".")[0])
        mod = stem.split(f"layers.{layer}.")[1]
        if mod not in _LORA_TARGETS:
            raise SystemExit(f"unsupported LoRA target {stem}")
        a, b = pairs[stem]["a"], pairs[stem]["b"]
        if mod == "self_attn.q_proj":
            b = permute_qk(b, n_head)
        elif mod == "self_attn.k_proj":
            b = permute_qk(b, n_kv)
        base = f"blk.{layer}.{_LORA_TARGETS[mod]}.weight"
        w.add_tensor(base + ".lora_a", a)     # [r, in]  -> ne [in, r]
        w.add_tensor(base + ".lora_b", b)     # [out, r] -> ne [r, out]
    n = w.write(out)
    print(f"wrote {out}: {n} bytes, {len(w.tensors)} tensors, alpha={alpha}, r={r}")


def cmd_dump(path):
    g = read_gguf(path)
    print(f"version {g['version']}, header ends at {g['header_end']}, data starts at {g['data_start']}")
    for k, v in g["kv"].items():
        t = g["kv_types"][k]
        if isinstance(v, tuple):
            print(f"  {k} [ARRAY of type {v[1]}, n={len(v[0])}] {v[0][:6]}...")
        else:
            print(f"  {k} [type {t}] {v!r}")
    for name, ne, t, off in g["infos"]:
        print(f"  tensor {name} ne={ne} type={t} offset={off}")


def cmd_compare(pa, pb):
    a, b = read_gguf(pa), read_gguf(pb)
    names = sorted(set(a["tensors"]) | set(b["tensors"]))
    worst = 0.0
    for n in names:
        if n not in a["tensors"] or n not in b["tensors"]:
            print(f"  {n}: only in {'A' if n in a['tensors'] else 'B'}")
            continue
        x, y = a["tensors"][n], b["tensors"][n]
        if x.shape != y.shape:
            print(f"  {n}: shape {x.shape} vs {y.shape}")
            worst = math.inf
            continue
        d = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) if x.size else 0.0
        worst = max(worst, d)
        print(f"  {n}: max|diff| = {d:.3g}")
    print(f"max over common tensors: {worst:.3g}")
    return worst


def main(argv):
    if len(argv) < 2:
        print(__doc__.split("=====")[0])
        return 2
    cmd, rest = argv[1], argv[2:]
    opts = {}
    pos = []
    i = 0
    while i < len(rest):
        if rest[i] == "--untied":
            opts["untied"] = True
        elif rest[i] in ("--name", "--base"):
            opts[rest[i][2:]] = rest[i + 1]
            i += 1
        else:
            pos.append(rest[i])
        i += 1
    if cmd == "convert" and len(pos) == 2:
        cmd_convert(pos[0], pos[1], untied=opts.get("untied", False), name=opts.get("name"))
    elif cmd == "lora" and len(pos) == 2 and "base" in opts:
        cmd_lora(pos[0], pos[1], opts["base"])
    elif cmd == "dump" and len(pos) == 1:
        cmd_dump(pos[0])
    elif cmd == "compare" and len(pos) == 2:
        cmd_compare(pos[0], pos[1])
    else:
        print(__doc__.split("=====")[0])
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
