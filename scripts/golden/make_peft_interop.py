#!/usr/bin/env python3
"""
make_peft_interop.py -- file-format interop fixtures between HF PEFT and peft4j, both directions.

Run (PyTorch 1.13 + numpy; no transformers / peft / safetensors packages needed):
    /usr/bin/python3 scripts/golden/make_peft_interop.py write               PEFT -> peft4j fixtures
    /usr/bin/python3 scripts/golden/make_peft_interop.py check [--dir D]     peft4j -> PEFT: load what Java wrote
    /usr/bin/python3 scripts/golden/make_peft_interop.py selftest            exercise `check` on doctored copies

All paths below are under peft4j-core/src/test/resources/golden/peft/.

WRITE  (PEFT -> peft4j).  For the golden base models `llama` (GQA, untied lm_head) and `gpt2` (Conv1D, tied head)
it writes, per model, an adapter directory byte-for-byte in the form PeftModel.save_pretrained produces
    from-python/<model>/adapter_config.json        PEFT 0.19.1's full LoraConfig key set, sort_keys, indent 2,
                                                  no trailing newline (PeftConfigMixin.save_pretrained)
    from-python/<model>/adapter_model.safetensors  metadata {"format": "pt"}, F32, PEFT key names
    from-python/<model>/README.md                  (PEFT writes a model card too; a loader must ignore it)
    from-python/<model>/expected_logits.json       logits of base + adapter for INPUT_IDS (not a PEFT file)
  llama: target_modules [q_proj, v_proj, o_proj, down_proj], r 4, lora_alpha 8,
         rank_pattern {"model.layers.1.self_attn.v_proj": 2} (full name), alpha_pattern {"o_proj": 12} (suffix),
         modules_to_save ["lm_head"] with a trained copy of lm_head saved as base_model.model.lm_head.weight.
         -> scaling 2 (default), 4 for model.layers.1.self_attn.v_proj (r 2), 3 for both o_proj (alpha 12).
  gpt2:  target_modules [c_attn, c_proj] (suffix match: attn.c_attn, attn.c_proj AND mlp.c_proj), r 4,
         lora_alpha 16, use_rslora true -> scaling 16/sqrt(4) = 8 everywhere; fan_in_fan_out true.
  A and B are non-zero, deterministic (sin/cos of the element index, rounded to float32, see det_lora), sized so
  the adapter moves the logits by O(0.1-1). The script also folds every adapter into the base weights
  (W += scaling*B@A, Conv1D W[in,out] += (scaling*B@A)^T, lm_head replaced by the saved copy) and asserts that the
  merged model's logits equal the unmerged ones to 1e-9, then re-reads every file it wrote through the same strict
  loader `check` uses and asserts the logits are unchanged (so write and check agree on the rules).

CHECK  (peft4j -> PEFT).  Reads what the Java side wrote, default directory from-peft4j/ (override with --dir):
    <dir>/<model>/adapter_config.json + adapter_model.safetensors   -> <dir>/<model>/python_logits.json
    <dir>/<model>-merged/config.json + model.safetensors            -> <dir>/<model>-merged/python_logits.json
       (or model-0000k-of-0000n.safetensors + model.safetensors.index.json)
  for model in llama, gpt2 (or --models ...), interpreting the files the way PEFT / transformers would (rules below),
  and failing loudly (exit 1) on anything PEFT would refuse or silently mis-load: an unexpected or missing tensor
  key, a wrong shape, a dtype other than F32 (--dtypes to widen), no {"format": "pt"} metadata, a malformed file.
  Missing files are listed on stderr; the parts that are present are still checked, and the exit status is 2 if
  anything was missing (0 only when all four directories were there and passed). When both the adapter and the
  merged export exist, it also checks that the merged weights ARE base + the adapter's delta in PEFT's orientation
  and names the usual mistake when not (Conv1D orientation, wrong scaling, copy not applied; --no-consistency skips).
  --no-write checks without writing python_logits.json (use it with --dir pointing at from-python/).

SELFTEST  copies from-python/ to a temporary directory, writes merged exports for it (llama sharded in two files
  with an index, gpt2 single file without lm_head.weight), runs `check` there and compares with
  expected_logits.json, then runs `check` on a series of doctored copies (wrong key, wrong shape, missing metadata,
  ".default." left in a key, transposed Conv1D merge, ...) and asserts that each one is rejected. Writes nothing
  into the repository.

PEFT RULES ENCODED (huggingface/peft, read at current main unless said otherwise)
  * adapter_config.json: PeftConfigMixin.save_pretrained (src/peft/config.py) writes LoraConfig.to_dict()
    (dataclasses.asdict minus runtime_config; sets turned into lists) with json.dumps(indent=2, sort_keys=True),
    no trailing newline. PeftModel.save_pretrained sets inference_mode = True in the saved copy. Loading
    (PeftConfig.from_peft_type): keys the installed LoraConfig does not know are dropped with a warning
    (_check_and_remove_unused_kwargs); only "peft_type" is required. Key set and defaults written here are those
    of PEFT 0.19.1 (alora_invocation_tokens ... use_rslora, peft_version "0.19.1"), as seen in adapter configs
    that release writes. target_modules of a LoraConfig is a set, so PEFT's list order is arbitrary.
  * adapter_model.safetensors: get_peft_model_state_dict (src/peft/utils/save_and_load.py) keeps the keys that
    contain "lora_" (bias "none") and removes the adapter name: "base_model.model.<module>.lora_A.default.weight"
    -> "base_model.model.<module>.lora_A.weight". Saved with safe_save_file(..., metadata={"format": "pt"}).
    lora_A.weight is [r, in], lora_B.weight is [out, r] (nn.Linear(in, r) / nn.Linear(r, out) in
    LoraLayer.update_layer) -- also for GPT-2 Conv1D, where in, out = weight.shape of the [in, out] Conv1D weight.
  * modules_to_save: ModulesToSaveWrapper.adapter_state_dict (src/peft/utils/other.py) saves the trained copy's
    state dict under the wrapped module's own name, "base_model.model.lm_head.weight"; the loader
    (set_peft_model_state_dict + adapter_state_dict_load_map) looks up exactly that key and maps it to
    "lm_head.modules_to_save.default.weight" -- a file holding "...lm_head.modules_to_save.default.weight" instead
    raises KeyError there. Older releases wrote the same key: they did key.replace("modules_to_save.", "") and then
    removed ".default". So "<module>.weight" is the only on-disk form, in every PEFT version.
  * target matching: check_target_module_exists (src/peft/tuners/tuners_utils.py): exclude_modules first (str ->
    re.fullmatch, list -> exact name or endswith("." + item)); modules named by modules_to_save are never targets
    (re.match(rf"(^|.*\.){m}($|\..*)", key)); target_modules str -> re.fullmatch, "all-linear" -> every
    nn.Linear / Conv1D except the output embedding (lm_head); list -> exact name or endswith("." + item), then
    layers_to_transform / layers_pattern (layer index from rf".*\.{pattern}\.(\d+)\." or r".*\.[^.]*\.(\d+)\.");
    target_modules null -> TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING (llama [q_proj, v_proj], gpt2
    [c_attn]). Module names are those of the transformers model (no "base_model.model." prefix), matched against
    every module, not only the Linear ones; a target that hits a non-Linear module is an error in PEFT.
  * rank / alpha: LoraModel._create_and_replace: r = rank_pattern.get(get_pattern_key(rank_pattern.keys(), name), r)
    and the same for alpha, where get_pattern_key (src/peft/utils/other.py) returns the first key, in the JSON
    file's order, with re.match(rf"(.*\.)?({key})$", name) -- keys are raw regexes, unescaped dots match any
    character -- else the module name itself (so an exact full name always works). Older releases did ONE lookup
    for both dicts: the first key of chain(rank_pattern, alpha_pattern) with re.match(rf".*\.{key}$", name), else
    the name; they differ when a module matches keys of both dicts or a key only matches from the start of the
    name. The fixture's keys read the same under both rules; `check` warns when an adapter's don't.
  * scaling (LoraLayer.update_layer): lora_alpha / sqrt(r) if use_rslora else lora_alpha / r, per module.
  * forward (lora.Linear.forward): result = base_layer(x) + lora_B(lora_A(dropout(x))) * scaling (bias in base).
  * fan_in_fan_out: dispatch_default forces it True for Conv1D and False for nn.Linear (with a warning);
    get_delta_weight = transpose(B @ A, fan_in_fan_out) * scaling, so a GPT-2 merge adds (B @ A)^T * scaling to the
    [in, out] weight. merge_and_unload returns the modules_to_save copy in place of the original module.
  * transformers checkpoints: model.safetensors, else model.safetensors.index.json {"metadata": {"total_size"},
    "weight_map": {name: shard}}; metadata "format" must be "pt"; tied GPT-2 drops lm_head.weight;
    tie_word_embeddings defaults to False for LlamaConfig and True for GPT2Config when the key is absent.
Not covered (check fails loudly instead of guessing): DoRA, lora_bias, bias != "none", layer_replication,
trainable_token_indices, target_parameters, QALoRA, aLoRA, embedding / Conv2d targets, modules_to_save on a tied
head, megatron.
"""
import argparse
import json
import math
import re
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
from golden_common import (BITS, F64, GOLDEN_DIR, ROOT, ST_DTYPE, gpt2_forward, llama_forward,  # noqa: E402
                           write_safetensors)

MODELS_DIR = GOLDEN_DIR / "models"
PEFT_DIR = GOLDEN_DIR / "peft"
FROM_PYTHON = PEFT_DIR / "from-python"
FROM_PEFT4J = PEFT_DIR / "from-peft4j"
MODELS = ("llama", "gpt2")
INPUT_IDS = [[5, 17, 3, 22, 9, 41, 7, 30], [12, 6, 33, 2, 19, 8, 27, 14]]
PREFIX = "base_model.model."
PEFT_VERSION = "0.19.1"

# LoraConfig as PEFT 0.19.1 saves it with every field at its default (runtime_config is never saved).
LORA_DEFAULTS = {
    "alora_invocation_tokens": None, "alpha_pattern": {}, "arrow_config": None, "auto_mapping": None,
    "base_model_name_or_path": None, "bias": "none", "corda_config": None, "ensure_weight_tying": False,
    "eva_config": None, "exclude_modules": None, "fan_in_fan_out": False, "inference_mode": False,
    "init_lora_weights": True, "layer_replication": None, "layers_pattern": None, "layers_to_transform": None,
    "loftq_config": {}, "lora_alpha": 8, "lora_bias": False, "lora_dropout": 0.0, "lora_ga_config": None,
    "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA",
    "peft_version": PEFT_VERSION, "qalora_group_size": 16, "r": 8, "rank_pattern": {}, "revision": None,
    "target_modules": None, "target_parameters": None, "task_type": None, "trainable_token_indices": None,
    "use_bdlora": None, "use_dora": False, "use_qalora": False, "use_rslora": False,
}
# Non-default values of these change what the adapter computes in ways this checker does not model: refuse.
UNSUPPORTED = {
    "use_dora": False, "lora_bias": False, "bias": "none", "layer_replication": None,
    "trainable_token_indices": None, "target_parameters": None, "use_qalora": False,
    "alora_invocation_tokens": None, "use_bdlora": None, "arrow_config": None, "megatron_config": None,
}
DEFAULT_TARGETS = {"llama": ["q_proj", "v_proj"], "gpt2": ["c_attn"]}  # TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

# transformers config defaults that matter to the forward pass (LlamaConfig / GPT2Config __init__)
HF_DEFAULTS = {
    "llama": {"tie_word_embeddings": False, "rope_scaling": None, "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
              "hidden_act": "silu", "attention_bias": False, "mlp_bias": False, "head_dim": None,
              "num_key_value_heads": None},
    "gpt2": {"tie_word_embeddings": True, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
             "n_inner": None, "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
             "reorder_and_upcast_attn": False},
}
ARCH_KEYS = {
    "llama": ["model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta", "rope_scaling",
              "tie_word_embeddings", "hidden_act", "attention_bias", "mlp_bias"],
    "gpt2": ["model_type", "vocab_size", "n_embd", "n_layer", "n_head", "n_inner", "n_positions",
             "layer_norm_epsilon", "activation_function", "tie_word_embeddings", "scale_attn_weights",
             "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"],
}

# ----------------------------------------------------------------------------------------------------
# the fixtures' adapter configs (only the non-default fields; everything else is LORA_DEFAULTS)

SPECS = {
    "llama": {
        "config": {
            "base_model_name_or_path": "peft4j-core/src/test/resources/golden/models/llama",
            "task_type": "CAUSAL_LM", "inference_mode": True,
            "target_modules": ["q_proj", "v_proj", "o_proj", "down_proj"],
            "r": 4, "lora_alpha": 8, "lora_dropout": 0.05,
            # a full module name (matched through get_pattern_key's optional "(.*\.)?" prefix, and through the
            # exact-name fallback in older releases) and a bare suffix
            "rank_pattern": {"model.layers.1.self_attn.v_proj": 2},
            "alpha_pattern": {"o_proj": 12},
            "modules_to_save": ["lm_head"],
        },
        "amp": (0.08, 0.06), "head_amp": 0.05,
    },
    "gpt2": {
        "config": {
            "base_model_name_or_path": "peft4j-core/src/test/resources/golden/models/gpt2",
            "task_type": "CAUSAL_LM", "inference_mode": True,
            "target_modules": ["c_attn", "c_proj"],
            "r": 4, "lora_alpha": 16, "use_rslora": True, "fan_in_fan_out": True,
        },
        "amp": (0.05, 0.03), "head_amp": None,
    },
}


class CheckError(Exception):
    pass


class _Skip(Exception):
    pass


def fail(msg):
    raise CheckError(msg)


# ----------------------------------------------------------------------------------------------------
# strict safetensors reader (what safetensors.safe_open + transformers accept, with every deviation an error)

ST_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
            "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}


def _no_dupes(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            fail(f"duplicate JSON key {k!r}")
        out[k] = v
    return out


def read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"), object_pairs_hook=_no_dupes)
    except (ValueError, UnicodeDecodeError) as e:
        fail(f"{path}: not valid JSON: {e}")


def read_st(path, allowed=("F32",)):
    """{name: (dtype name, shape list, float64 tensor)}; fails on any malformation, missing {"format": "pt"}
    metadata or a dtype outside `allowed`."""
    raw = Path(path).read_bytes()
    if len(raw) < 8:
        fail(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        fail(f"{path}: header length {n} runs past the end of the file")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=_no_dupes)
    except (ValueError, UnicodeDecodeError) as e:
        fail(f"{path}: header is not valid JSON: {e}")
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or meta.get("format") != "pt":
        fail(f"{path}: __metadata__ must contain \"format\": \"pt\" (PEFT and transformers write it), got {meta!r}")
    data = raw[8 + n:]
    out, spans = {}, []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            fail(f"{path}:{name}: header entry must have exactly dtype, shape, data_offsets: {info!r}")
        dt, shape, (a, b) = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in ST_SIZES:
            fail(f"{path}:{name}: unknown dtype {dt!r}")
        if dt not in allowed:
            fail(f"{path}:{name}: dtype {dt}, expected one of {list(allowed)}")
        numel = math.prod(shape)
        if not (0 <= a <= b <= len(data)) or b - a != numel * ST_SIZES[dt]:
            fail(f"{path}:{name}: data_offsets {[a, b]} do not hold {shape} x {dt}")
        int_dtype, np_le = BITS[ST_DTYPE[dt]]
        bits = np.frombuffer(data[a:b], dtype=np_le).astype(np_le[1:])
        t = torch.from_numpy(bits.copy()).view(ST_DTYPE[dt]).reshape(shape).to(F64)
        out[name] = (dt, list(shape), t)
        spans.append((a, b))
    spans.sort()
    pos = 0
    for a, b in spans:
        if a != pos:
            fail(f"{path}: data section has a gap or overlap at byte {pos}")
        pos = b
    if pos != len(data):
        fail(f"{path}: {len(data) - pos} trailing bytes not covered by any tensor")
    return out


# ----------------------------------------------------------------------------------------------------
# base models: module tree as transformers builds it

class Base:
    def __init__(self, name):
        self.name = name
        d = MODELS_DIR / name
        self.cfg = json.loads((d / "config.json").read_text())
        st = read_st(d / "model.safetensors")
        self.W = {k: t for k, (_, _, t) in st.items()}
        self.forward = llama_forward if name == "llama" else gpt2_forward
        # parameters per leaf module, and which leaves are Linear / Conv1D (with in, out features)
        self.params = {}
        for k in self.W:
            mod, p = k.rsplit(".", 1)
            self.params.setdefault(mod, []).append(p)
        if name == "gpt2":  # GPT2LMHeadModel.lm_head exists as a module, tied to wte (not in the checkpoint)
            self.params["lm_head"] = ["weight"]
        self.linear = {}
        for mod in self.params:
            if name == "llama":
                if mod != "model.embed_tokens" and self.W.get(mod + ".weight") is not None \
                        and self.W[mod + ".weight"].dim() == 2:
                    out_f, in_f = self.W[mod + ".weight"].shape
                    self.linear[mod] = (int(in_f), int(out_f), False)
            else:
                if mod.startswith("transformer.h.") and self.W[mod + ".weight"].dim() == 2:
                    in_f, out_f = self.W[mod + ".weight"].shape  # Conv1D weight is [in, out]
                    self.linear[mod] = (int(in_f), int(out_f), True)
        if name == "gpt2":
            V, C = self.W["transformer.wte.weight"].shape
            self.linear["lm_head"] = (int(C), int(V), False)  # nn.Linear, tied
        self.output_embedding = "lm_head"
        # every module name of named_modules() (containers included), as PEFT iterates them
        names = set()
        for mod in self.params:
            parts = mod.split(".")
            for i in range(1, len(parts) + 1):
                names.add(".".join(parts[:i]))
        self.modules = sorted(names)
        self.tied = bool(self.cfg.get("tie_word_embeddings", HF_DEFAULTS[name]["tie_word_embeddings"]))

    def logits(self, W=None, hook=None, cfg=None):
        return self.forward(cfg or self.cfg, W or self.W, torch.tensor(INPUT_IDS), lora=hook)


# ----------------------------------------------------------------------------------------------------
# adapter_config.json -> what PEFT builds

def _fullmatch(pattern, key):
    return re.fullmatch(pattern, key) is not None


def _listed(items, key):
    return key in items or any(key.endswith("." + t) for t in items)


def get_pattern_key(keys, name):
    """PEFT get_pattern_key (current): first key k with re.match(rf"(.*\\.)?({k})$", name)."""
    for k in keys:
        if re.match(rf"(.*\.)?({k})$", name):
            return k
    return name


def old_pattern_lookup(rank_pattern, alpha_pattern, name, r, alpha):
    """Older LoraModel._create_and_replace: one key from chain(rank keys, alpha keys) with re.match(rf".*\\.{k}$")."""
    keys = list(rank_pattern) + list(alpha_pattern)
    k = next((k for k in keys if re.match(rf".*\.{k}$", name)), name)
    return rank_pattern.get(k, r), alpha_pattern.get(k, alpha)


def interpret(cfg, base, notes):
    """The LoRA layers and modules_to_save PEFT would build on `base` from adapter_config dict `cfg`.
    Returns (targets {module: dict(r, alpha, scaling, in, out, conv1d)}, saved {module: [param names]})."""
    if cfg.get("peft_type") != "LORA":
        fail(f"peft_type is {cfg.get('peft_type')!r}; only LORA is handled")
    unknown = sorted(set(cfg) - set(LORA_DEFAULTS))
    if unknown:
        notes.append(f"keys PEFT {PEFT_VERSION} does not know (dropped with a warning on load): {unknown}")
    c = dict(LORA_DEFAULTS)
    c.update(cfg)
    for k, default in UNSUPPORTED.items():
        v = c.get(k)
        if v != default and not (default is None and v in ([], {}, "")):
            fail(f"{k} = {v!r}: not supported by this checker (and not written by peft4j)")
    if c["task_type"] != "CAUSAL_LM":
        notes.append(f"task_type {c['task_type']!r} (PeftModelForCausalLM expects CAUSAL_LM)")
    r, alpha = c["r"], c["lora_alpha"]
    if not isinstance(r, int) or isinstance(r, bool) or r <= 0:
        fail(f"r must be a positive int, got {r!r}")
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool):
        fail(f"lora_alpha must be a number, got {alpha!r}")
    rank_pattern, alpha_pattern = c["rank_pattern"] or {}, c["alpha_pattern"] or {}
    mts = c["modules_to_save"] or []
    tm = c["target_modules"]
    if tm is None:
        tm = DEFAULT_TARGETS[base.name]
        notes.append(f"target_modules null -> PEFT's default for {base.name}: {tm}")
    all_linear = isinstance(tm, str) and tm.lower() == "all-linear"
    if isinstance(tm, str) and not all_linear and (c["layers_to_transform"] is not None or c["layers_pattern"]):
        fail("layers_to_transform / layers_pattern cannot be used with a regex target_modules (PEFT raises)")
    ex = c["exclude_modules"]
    lt, lp = c["layers_to_transform"], c["layers_pattern"]

    def is_target(key):
        if ex:
            if (isinstance(ex, str) and _fullmatch(ex, key)) or (not isinstance(ex, str) and _listed(ex, key)):
                return False
        if mts and any(re.match(rf"(^|.*\.){m}($|\..*)", key) for m in mts):
            return False
        if all_linear:
            return key in base.linear and key != base.output_embedding
        if isinstance(tm, str):
            return _fullmatch(tm, key)
        if key in tm:
            return True
        found = any(key.endswith("." + t) for t in tm)
        using_idx = lt is not None and (len(lt) != 0 if isinstance(lt, list) else True)
        if found and using_idx:
            m = None
            if lp is None or len(lp) == 0:
                m = re.match(r".*\.[^.]*\.(\d+)\.", key)
            else:
                for p in ([lp] if isinstance(lp, str) else lp):
                    m = re.match(rf".*\.{p}\.(\d+)\.", key)
                    if m:
                        break
            if m is None:
                return False
            idx = int(m.group(1))
            return idx == lt if isinstance(lt, int) else idx in lt
        return found

    targets = {}
    for key in base.modules:
        if not is_target(key):
            continue
        if key not in base.linear:
            fail(f"target_modules match {key!r}, which is not an nn.Linear / Conv1D (PEFT raises, or builds a layer "
                 f"type this checker does not handle)")
        in_f, out_f, conv1d = base.linear[key]
        if key == "lm_head" and base.tied:
            fail("LoRA on a tied lm_head is not handled by this checker")
        rr = rank_pattern.get(get_pattern_key(rank_pattern.keys(), key), r)
        aa = alpha_pattern.get(get_pattern_key(alpha_pattern.keys(), key), alpha)
        if (rr, aa) != old_pattern_lookup(rank_pattern, alpha_pattern, key, r, alpha):
            notes.append(f"WARNING {key}: older PEFT releases read rank/alpha_pattern as "
                         f"{old_pattern_lookup(rank_pattern, alpha_pattern, key, r, alpha)}, current as {(rr, aa)}")
        if not isinstance(rr, int) or rr <= 0:
            fail(f"{key}: rank {rr!r} from rank_pattern is not a positive int")
        scaling = aa / math.sqrt(rr) if c["use_rslora"] else aa / rr
        targets[key] = {"r": rr, "alpha": aa, "scaling": scaling, "in": in_f, "out": out_f, "conv1d": conv1d}
    if not targets:
        fail(f"target_modules {tm!r} match no module of {base.name} (PEFT raises ValueError)")
    if not isinstance(tm, str):
        for t in tm:
            if not any(k == t or k.endswith("." + t) for k in targets):
                notes.append(f"target_modules entry {t!r} matched nothing")
    conv = {t["conv1d"] for t in targets.values()}
    if c["fan_in_fan_out"] not in conv:
        notes.append(f"fan_in_fan_out {c['fan_in_fan_out']} does not fit the targets (PEFT overrides it per layer "
                     f"with a warning: True for Conv1D, False for nn.Linear)")
    # modules_to_save: every module whose name is m or ends with "." + m (ModulesToSaveWrapper around it)
    saved = {}
    for m in mts:
        hits = [k for k in base.params if k == m or k.endswith("." + m)]
        if not hits:
            fail(f"modules_to_save entry {m!r} matches no module with parameters")
        for k in hits:
            if k == "lm_head" and base.tied:
                fail("modules_to_save on a tied lm_head (GPT-2) unties it; not handled by this checker")
            saved[k] = sorted(base.params[k])
    return targets, saved


def expected_tensors(targets, saved, base):
    """{PEFT key: shape} of the adapter file."""
    exp = {}
    for m, t in targets.items():
        exp[f"{PREFIX}{m}.lora_A.weight"] = [t["r"], t["in"]]
        exp[f"{PREFIX}{m}.lora_B.weight"] = [t["out"], t["r"]]
    for m, ps in saved.items():
        for p in ps:
            exp[f"{PREFIX}{m}.{p}"] = list(base.W[f"{m}.{p}"].shape)
    return exp


def key_hint(k):
    if ".modules_to_save." in k:
        return " (PEFT saves a modules_to_save copy as <module>.weight; this form raises KeyError in its loader)"
    if ".default." in k or k.endswith(".default"):
        return " (the adapter name must be removed, PEFT saves lora_A.weight, not lora_A.default.weight)"
    if not k.startswith(PREFIX):
        return f" (PEFT keys start with {PREFIX!r})"
    return ""


def load_adapter(d, base, allowed):
    """Read <d>/adapter_config.json + adapter_model.safetensors as PEFT would. Returns (cfg, targets, saved,
    lora {module: (A, B)}, copies {param name: tensor}, notes)."""
    notes = []
    for f in ("adapter_config.json", "adapter_model.safetensors"):
        if not (d / f).is_file():
            fail(f"{d}: no {f}")
    if (d / "adapter_model.bin").exists():
        notes.append("adapter_model.bin present too; PEFT prefers the safetensors file")
    cfg = read_json(d / "adapter_config.json")
    targets, saved = interpret(cfg, base, notes)
    st = read_st(d / "adapter_model.safetensors", allowed)
    exp = expected_tensors(targets, saved, base)
    missing = sorted(set(exp) - set(st))
    unexpected = sorted(set(st) - set(exp))
    if missing or unexpected:
        fail(f"{d / 'adapter_model.safetensors'}: keys do not match adapter_config.json\n"
             + "".join(f"    missing    {k} {exp[k]}\n" for k in missing)
             + "".join(f"    unexpected {k} {st[k][1]}{key_hint(k)}\n" for k in unexpected))
    for k, shape in exp.items():
        if st[k][1] != shape:
            fail(f"{d}:{k}: shape {st[k][1]}, PEFT builds {shape}" +
                 (" (lora_A is [r, in], lora_B [out, r], also for Conv1D)" if ".lora_" in k else ""))
    lora = {m: (st[f"{PREFIX}{m}.lora_A.weight"][2], st[f"{PREFIX}{m}.lora_B.weight"][2]) for m in targets}
    copies = {f"{m}.{p}": st[f"{PREFIX}{m}.{p}"][2] for m, ps in saved.items() for p in ps}
    dts = sorted({v[0] for v in st.values()})
    if dts != ["F32"]:
        notes.append(f"adapter dtypes {dts}")
    return cfg, targets, saved, lora, copies, notes


def lora_hook(lora, targets):
    def hook(x, module):
        if module not in lora:
            return torch.zeros(())
        A, B = lora[module]
        return ((x @ A.T) @ B.T) * targets[module]["scaling"]  # lora_B(lora_A(x)) * scaling
    return hook


def adapter_logits(base, targets, lora, copies):
    W = dict(base.W)
    W.update(copies)  # ModulesToSaveWrapper: the saved copy replaces the module in the forward pass
    return base.logits(W, lora_hook(lora, targets))


def merged_weights(base, targets, lora, copies):
    """merge_and_unload: W += transpose(B @ A, fan_in_fan_out) * scaling; modules_to_save -> the copy."""
    W = dict(base.W)
    W.update(copies)
    for m, t in targets.items():
        A, B = lora[m]
        delta = (B @ A) * t["scaling"]  # [out, in]
        W[m + ".weight"] = W[m + ".weight"] + (delta.T if t["conv1d"] else delta)
    return W


def render(x):
    return [[[float(f"{v:.7g}") for v in row] for row in b] for b in x.tolist()]


def _fmt(v, ind=0):
    pad = " " * (ind + 1)
    if isinstance(v, dict) and v:
        return "{\n" + ",\n".join(f"{pad}{json.dumps(k)}: {_fmt(v[k], ind + 1)}" for k in sorted(v)) + "\n" + " " * ind + "}"
    if isinstance(v, list) and v and isinstance(v[0], (list, dict)):
        return "[\n" + ",\n".join(pad + _fmt(x, ind + 1) for x in v) + "\n" + " " * ind + "]"
    return json.dumps(v)


def write_json_compact(path, obj):
    """Sorted keys, indent 1, every innermost list (a row of V logits) on one line: small, diffable, plain JSON."""
    path.write_text(_fmt(obj) + "\n")


def logits_doc(logits, targets=None, extra=None):
    doc = {"input_ids": INPUT_IDS, "logits": render(logits)}
    if targets is not None:
        doc["scalings"] = {m: t["scaling"] for m, t in sorted(targets.items())}
        doc["ranks"] = {m: t["r"] for m, t in sorted(targets.items())}
    if extra:
        doc.update(extra)
    return doc


# ----------------------------------------------------------------------------------------------------
# write

def det_lora(k, r, n_in, n_out, a_amp, b_amp):
    """Module k (0-based, code-point-sorted target order): A[i][j] = a_amp*sin(0.41*(i*in+j) + 0.9*k + 0.3),
    B[o][i] = b_amp*cos(0.29*(o*r+i) + 0.5*k + 0.1), in double, then rounded to float32."""
    A = [[a_amp * math.sin(0.41 * (i * n_in + j) + 0.9 * k + 0.3) for j in range(n_in)] for i in range(r)]
    B = [[b_amp * math.cos(0.29 * (o * r + i) + 0.5 * k + 0.1) for i in range(r)] for o in range(n_out)]
    return tuple(torch.tensor(x, dtype=F64).to(torch.float32) for x in (A, B))


def config_text(spec_cfg):
    cfg = dict(LORA_DEFAULTS)
    cfg.update(spec_cfg)
    assert set(cfg) == set(LORA_DEFAULTS)
    return json.dumps(cfg, indent=2, sort_keys=True)  # PeftConfigMixin.save_pretrained: no trailing newline


README = """---
base_model: {base}
library_name: peft
---

# Model Card for Model ID

(PEFT's model card template, shortened: golden fixture written by scripts/golden/make_peft_interop.py.)

### Framework versions

- PEFT {version}
"""


def write_model(name):
    print(f"== {name}")
    base = Base(name)
    spec = SPECS[name]
    d = FROM_PYTHON / name
    d.mkdir(parents=True, exist_ok=True)
    text = config_text(spec["config"])
    notes = []
    targets, saved = interpret(json.loads(text), base, notes)
    assert not notes, notes
    a_amp, b_amp = spec["amp"]
    tensors, lora, copies = {}, {}, {}
    for k, m in enumerate(sorted(targets)):
        t = targets[m]
        A, B = det_lora(k, t["r"], t["in"], t["out"], a_amp, b_amp)
        tensors[f"{PREFIX}{m}.lora_A.weight"], tensors[f"{PREFIX}{m}.lora_B.weight"] = A, B
        lora[m] = (A.to(F64), B.to(F64))
    for m, ps in saved.items():
        for p in ps:
            w = base.W[f"{m}.{p}"]
            idx = torch.arange(w.numel(), dtype=F64).reshape(w.shape)
            trained = (w + spec["head_amp"] * torch.sin(0.13 * idx + 0.7)).to(torch.float32)
            tensors[f"{PREFIX}{m}.{p}"] = trained
            copies[f"{m}.{p}"] = trained.to(F64)
    assert set(tensors) == set(expected_tensors(targets, saved, base))

    (d / "adapter_config.json").write_text(text)
    write_safetensors(d / "adapter_model.safetensors", tensors)  # metadata {"format": "pt"}, sorted keys
    (d / "README.md").write_text(README.format(base=spec["config"]["base_model_name_or_path"], version=PEFT_VERSION))

    base_logits = base.logits()
    logits = adapter_logits(base, targets, lora, copies)
    merged = base.logits(merged_weights(base, targets, lora, copies))
    merge_err = (merged - logits).abs().max().item()
    assert merge_err < 1e-9, merge_err
    moved = (logits - base_logits).abs().max().item()
    assert 0.1 <= moved <= 3.0, f"adapter moves the logits by {moved}; retune the amplitudes"
    if copies:  # each part must matter on its own
        lora_only = adapter_logits(base, targets, lora, {})
        head_only = (lora_only - logits).abs().max().item()
        assert head_only > 0.05, head_only
        print(f"  modules_to_save copy alone moves the logits by {head_only:.3f}")

    # re-read through the strict PEFT-rules loader: same config interpretation, same tensors, same logits
    cfg2, targets2, saved2, lora2, copies2, notes2 = load_adapter(d, base, ("F32",))
    assert not notes2, notes2
    assert targets2 == targets and saved2 == saved
    assert torch.equal(adapter_logits(base, targets2, lora2, copies2), logits)

    write_json_compact(d / "expected_logits.json", logits_doc(logits, targets, {
        "max_abs_change_vs_base": float(f"{moved:.7g}"),
        "note": "base + adapter (LoRA hook y += (x A^T) B^T * scaling; modules_to_save copy in place of the module), "
                "float64 from the F32 files, 7 significant digits; see scripts/golden/make_peft_interop.py"}))
    print(f"  {len(targets)} LoRA modules, modules_to_save {sorted(saved) or '-'}")
    for m, t in sorted(targets.items()):
        print(f"    {m:36s} r {t['r']}  alpha {t['alpha']:>2}  scaling {t['scaling']:g}  "
              f"A {[t['r'], t['in']]}  B {[t['out'], t['r']]}{'  (Conv1D)' if t['conv1d'] else ''}")
    print(f"  adapter moves the logits by up to {moved:.4f}; merged == unmerged to {merge_err:.1e}")


def cmd_write(_args):
    torch.set_num_threads(1)
    for name in MODELS:
        write_model(name)
    total = 0
    for f in sorted(FROM_PYTHON.rglob("*")):
        if f.is_file():
            total += f.stat().st_size
            print(f"  {f.relative_to(ROOT)}  {f.stat().st_size}")
    print(f"total {total} bytes")


# ----------------------------------------------------------------------------------------------------
# check

def load_checkpoint(d, name, allowed):
    """A transformers checkpoint directory -> (config dict, {name: (dtype, shape, float64)}, notes)."""
    notes = []
    if not (d / "config.json").is_file():
        fail(f"{d}: no config.json")
    cfg = read_json(d / "config.json")
    single, index = d / "model.safetensors", d / "model.safetensors.index.json"
    if single.exists() and index.exists():
        fail(f"{d}: both model.safetensors and model.safetensors.index.json; transformers would take the single file")
    if single.exists():
        return cfg, read_st(single, allowed), notes
    if not index.exists():
        fail(f"{d}: neither model.safetensors nor model.safetensors.index.json")
    idx = read_json(index)
    wm = idx.get("weight_map")
    if not isinstance(wm, dict) or not wm:
        fail(f"{index}: no weight_map")
    tensors = {}
    for shard in sorted(set(wm.values())):
        if "/" in shard or not (d / shard).is_file():
            fail(f"{index}: shard {shard!r} missing")
        for k, v in read_st(d / shard, allowed).items():
            if wm.get(k) != shard:
                fail(f"{d / shard}: holds {k}, which weight_map puts in {wm.get(k)!r}")
            tensors[k] = v
    absent = sorted(set(wm) - set(tensors))
    if absent:
        fail(f"{index}: weight_map names tensors no shard holds: {absent}")
    size = sum(t.numel() * ST_SIZES[dt] for dt, _, t in tensors.values())
    total = (idx.get("metadata") or {}).get("total_size")
    if total != size:
        fail(f"{index}: metadata.total_size {total!r}, the tensors hold {size} bytes")
    notes.append(f"{len(set(wm.values()))} shards")
    return cfg, tensors, notes


def effective(cfg, name):
    c = dict(HF_DEFAULTS[name])
    c.update(cfg)
    if name == "llama":
        if c["num_key_value_heads"] is None:
            c["num_key_value_heads"] = c["num_attention_heads"]
        if c["head_dim"] is None:
            c["head_dim"] = c["hidden_size"] // c["num_attention_heads"]
    return c


def mismatch_hint(k, got_w, base, targets, lora, copies, tol):
    """Name the usual mistake when a merged weight is not base + delta."""
    mod = k.rsplit(".", 1)[0]
    if k in copies:
        same = (got_w - base.W[k]).abs().max().item() <= tol
        return "; it must be the adapter's modules_to_save copy" + (" (it is the base weight)" if same else "")
    if mod not in targets:
        return "; this tensor is neither a LoRA target nor a modules_to_save copy, so it must equal the base"
    A, B = lora[mod]
    delta = (B @ A) * targets[mod]["scaling"]  # [out, in]
    conv1d = targets[mod]["conv1d"]
    w0 = base.W[k]
    for what, cand in (("the delta in the other orientation (Conv1D weights are [in, out]: add (B@A)^T)",
                        delta if conv1d else delta.T),
                       ("nothing (not merged)", torch.zeros_like(w0))):
        if cand.shape == w0.shape and (got_w - (w0 + cand)).abs().max().item() <= tol:
            return f"; it equals base + {what}"
    ba = (B @ A).T if conv1d else B @ A
    fit = float(((got_w - w0) * ba).sum() / (ba * ba).sum())  # least-squares scaling
    if (got_w - (w0 + fit * ba)).abs().max().item() <= tol:
        return f"; it equals base + {fit:.6g} * B@A: scaling {fit:.6g} instead of {targets[mod]['scaling']:.6g}"
    return ""


def check_merged(d, base, allowed, adapter, notes):
    cfg, st, n2 = load_checkpoint(d, base.name, allowed)
    notes += n2
    eff, beff = effective(cfg, base.name), effective(base.cfg, base.name)
    diff = [k for k in ARCH_KEYS[base.name] if eff.get(k) != beff.get(k)]
    if diff:
        fail(f"{d}/config.json: differs from the base model in {[(k, eff.get(k), beff.get(k)) for k in diff]}")
    arch = cfg.get("architectures")
    want = {"llama": "LlamaForCausalLM", "gpt2": "GPT2LMHeadModel"}[base.name]
    if arch != [want]:
        fail(f"{d}/config.json: architectures {arch!r}, expected [{want!r}]")
    exp = {k: list(v.shape) for k, v in base.W.items()}
    if not eff["tie_word_embeddings"] and "lm_head.weight" not in exp:
        fail("untied config on a tied base")
    got = {k: v[1] for k, v in st.items()}
    if eff["tie_word_embeddings"] and "lm_head.weight" in got:
        emb = "transformer.wte.weight" if base.name == "gpt2" else "model.embed_tokens.weight"
        if not torch.equal(st["lm_head.weight"][2], st[emb][2]):
            fail(f"{d}: tied model with an lm_head.weight that differs from {emb} (transformers re-ties it away)")
        notes.append("lm_head.weight stored although tied (transformers ignores it)")
        del got["lm_head.weight"]
    missing, unexpected = sorted(set(exp) - set(got)), sorted(set(got) - set(exp))
    if missing or unexpected:
        fail(f"{d}: tensor names differ from a {want} checkpoint: missing {missing}, unexpected {unexpected}")
    for k in exp:
        if got[k] != exp[k]:
            hint = " (Conv1D weights are stored [in, out])" if base.name == "gpt2" and len(exp[k]) == 2 else ""
            fail(f"{d}:{k}: shape {got[k]}, expected {exp[k]}{hint}")
    dts = sorted({v[0] for v in st.values()})
    if dts != ["F32"]:
        notes.append(f"merged dtypes {dts}")
    W = {k: st[k][2] for k in exp}
    if adapter is not None:  # the merged weights must be base + the adapter's delta, in PEFT's orientation
        targets, lora, copies = adapter
        want_W = merged_weights(base, targets, lora, copies)
        worst = 0.0
        for k in exp:
            ref, got_w = want_W[k], W[k]
            tol = 2e-6 * max(1.0, ref.abs().max().item()) if dts == ["F32"] else 1e-2 * max(1.0, ref.abs().max().item())
            err = (got_w - ref).abs().max().item()
            if err > tol:
                fail(f"{d}:{k}: differs from base + adapter delta by {err:.3e} (tol {tol:.1e})"
                     + mismatch_hint(k, got_w, base, targets, lora, copies, tol))
            worst = max(worst, err)
        notes.append(f"merged weights == base + adapter delta (PEFT orientation) to {worst:.2e}")
    cfg_fwd = dict(base.cfg)
    cfg_fwd["tie_word_embeddings"] = eff["tie_word_embeddings"]
    return base.logits(W, cfg=cfg_fwd)


def cmd_check(args, quiet=False):
    out = print if not quiet else (lambda *a, **k: None)
    torch.set_num_threads(1)
    root = Path(args.dir).resolve() if args.dir else FROM_PEFT4J
    allowed = tuple(args.dtypes.split(","))
    parts = {}  # (model, "adapter" | "merged") -> directory, for the parts whose files are all there
    missing = []
    for name in args.models:
        for part, sub, files in (("adapter", name, ("adapter_config.json", "adapter_model.safetensors")),
                                 ("merged", name + "-merged", ("config.json",))):
            absent = [str(root / sub / f) for f in files if not (root / sub / f).is_file()]
            missing += absent
            if not absent:
                parts[(name, part)] = root / sub
    if missing:
        print("check: missing (the Java side writes these):", file=sys.stderr)
        for m in missing:
            print(f"  {m}", file=sys.stderr)
    if not parts:
        return 2
    failures = 0
    for name in args.models:
        base = Base(name)
        out(f"== {name}")
        adapter = None
        try:
            if (name, "adapter") not in parts:
                raise _Skip
            notes = []
            cfg, targets, saved, lora, copies, n = load_adapter(root / name, base, allowed)
            notes += n
            logits = adapter_logits(base, targets, lora, copies)
            moved = (logits - base.logits()).abs().max().item()
            if args.write:
                write_json_compact(root / name / "python_logits.json", logits_doc(logits, targets, {
                    "source": "make_peft_interop.py check: adapter read by PEFT's rules, applied to golden/models/"
                              + name}))
            adapter = (targets, lora, copies)
            out(f"  adapter OK: {len(targets)} LoRA modules, modules_to_save {sorted(saved) or '-'}, "
                f"logits move by {moved:.4f} vs base")
            for m, t in sorted(targets.items()):
                out(f"    {m:36s} r {t['r']}  alpha {t['alpha']}  scaling {t['scaling']:g}")
            for x in notes:
                out(f"    note: {x}")
        except _Skip:
            out("  adapter: missing, skipped")
        except CheckError as e:
            failures += 1
            out(f"  ADAPTER FAIL {root / name}: {e}")
            if quiet:
                raise
        try:
            if (name, "merged") not in parts:
                raise _Skip
            notes = []
            logits = check_merged(root / (name + "-merged"), base, allowed,
                                  None if args.no_consistency else adapter, notes)
            if args.write:
                write_json_compact(root / (name + "-merged") / "python_logits.json", logits_doc(logits, extra={
                    "source": "make_peft_interop.py check: merged export read as a plain transformers checkpoint"}))
            out(f"  merged OK")
            for x in notes:
                out(f"    note: {x}")
        except _Skip:
            out("  merged: missing, skipped")
        except CheckError as e:
            failures += 1
            out(f"  MERGED FAIL {root / (name + '-merged')}: {e}")
            if quiet:
                raise
    if failures:
        out(f"check: {failures} failure(s)")
        return 1
    out("check: all present parts OK" + (f"; {len(missing)} file(s) missing" if missing else ""))
    return 2 if missing else 0


# ----------------------------------------------------------------------------------------------------
# selftest: check mode against known-good and doctored copies of the from-python fixtures

def write_merged_export(src_adapter, dst, name, shards):
    base = Base(name)
    _, targets, _, lora, copies, _ = load_adapter(src_adapter, base, ("F32",))
    W = merged_weights(base, targets, lora, copies)
    t32 = {k: v.to(torch.float32) for k, v in W.items()}
    dst.mkdir(parents=True)
    shutil.copy(MODELS_DIR / name / "config.json", dst / "config.json")
    if shards == 1:
        write_safetensors(dst / "model.safetensors", t32)
        return
    keys = sorted(t32)
    half = len(keys) // 2
    parts = [keys[:half], keys[half:]]
    wm = {}
    for i, ks in enumerate(parts):
        fn = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors"
        write_safetensors(dst / fn, {k: t32[k] for k in ks})
        wm.update({k: fn for k in ks})
    total = sum(t.numel() * 4 for t in t32.values())
    (dst / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": wm}, indent=2, sort_keys=True) + "\n")


def rewrite_st(path, fn):
    """Load an F32 safetensors file, let fn mutate {name: tensor}, write it back."""
    st = read_st(path)
    d = {k: t.to(torch.float32) for k, (_, _, t) in st.items()}
    fn(d)
    write_safetensors(path, d)


def _edit_json(path, **kw):
    c = json.loads(path.read_text())
    for k, v in kw.items():
        if v is _DROP:
            c.pop(k, None)
        else:
            c[k] = v
    path.write_text(json.dumps(c, indent=2, sort_keys=True))


_DROP = object()


def _strip_metadata(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    h = json.loads(raw[8:8 + n])
    h.pop("__metadata__")
    hj = json.dumps(h, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    path.write_bytes(struct.pack("<Q", len(hj)) + hj + raw[8 + n:])


def _doctored_cases():
    """(model, "" for the adapter dir or "-merged", doctor(dir), fragment the failure message must contain)."""
    q = "base_model.model.model.layers.0.self_attn.q_proj"
    g = "base_model.model.transformer.h.0.attn.c_proj"
    ad, st = "adapter_model.safetensors", "model.safetensors"

    def cfg(**kw):
        return lambda d: _edit_json(d / "adapter_config.json", **kw)

    def tensors(file, fn):
        return lambda d: rewrite_st(d / file, fn)

    def rename(old, new):
        return lambda t: t.__setitem__(new, t.pop(old))

    def replace(name, f):
        return lambda t: t.__setitem__(name, f(t))

    def transpose_delta(name):  # base + delta^T instead of base + delta (the Conv1D orientation mistake)
        w0 = Base("gpt2").W[name]
        return replace(name, lambda t: (w0 + (t[name].to(F64) - w0).T).to(torch.float32))

    return [
        ("llama", "", cfg(rank_pattern={}), "shape [2, 64], PEFT builds [4, 64]"),
        ("llama", "", cfg(modules_to_save=None), "unexpected base_model.model.lm_head.weight"),
        ("llama", "", cfg(alpha_pattern={}), "scaling 3 instead of 2"),
        ("llama", "", cfg(target_modules=["q_proj", "v_proj", "o_proj", "down_proj", "k_proj"]), "missing"),
        ("llama", "", cfg(target_modules=["self_attn"]), "not an nn.Linear"),
        ("llama", "", cfg(use_dora=True), "use_dora"),
        ("llama", "", cfg(peft_type="LOHA"), "peft_type"),
        ("llama", "", cfg(peft_type=_DROP), "peft_type"),
        ("llama", "", lambda d: _strip_metadata(d / ad), '"format": "pt"'),
        ("llama", "", tensors(ad, rename(q + ".lora_A.weight", q + ".lora_A.default.weight")), "adapter name"),
        ("llama", "", tensors(ad, rename("base_model.model.lm_head.weight",
                                         "base_model.model.lm_head.modules_to_save.default.weight")), "KeyError"),
        ("llama", "", tensors(ad, rename(q + ".lora_A.weight", q[len(PREFIX):] + ".lora_A.weight")), "start with"),
        ("llama", "", tensors(ad, replace(q + ".lora_A.weight", lambda t: t[q + ".lora_A.weight"].T.contiguous())),
         "shape [64, 4], PEFT builds [4, 64]"),
        ("llama", "", tensors(ad, replace(q + ".lora_B.weight", lambda t: t[q + ".lora_B.weight"].to(torch.float16))),
         "dtype F16"),
        ("llama", "-merged", lambda d: (d / "model.safetensors.index.json").write_text(
            (d / "model.safetensors.index.json").read_text().replace('"total_size": ', '"total_size": 1')),
         "total_size"),
        ("llama", "-merged", tensors("model-00001-of-00002.safetensors", lambda t: t.pop("model.embed_tokens.weight")),
         "weight_map names tensors no shard holds"),
        ("llama", "-merged", lambda d: _edit_json(d / "config.json", tie_word_embeddings=True), "tie_word_embeddings"),
        ("llama", "-merged", tensors("model-00001-of-00002.safetensors",
                                     replace("lm_head.weight", lambda t: Base("llama").W["lm_head.weight"].float())),
         "modules_to_save copy (it is the base weight)"),
        ("llama", "-merged", lambda d: (d / "model.safetensors").write_bytes(b""), "both model.safetensors and"),
        ("gpt2", "", cfg(use_rslora=False), "scaling 8 instead of 4"),
        ("gpt2", "", cfg(target_modules=["c_attn", "attn.c_proj"]), "unexpected"),
        ("gpt2", "-merged", lambda d: _edit_json(d / "config.json", tie_word_embeddings=_DROP, n_layer=3), "n_layer"),
        ("gpt2", "-merged", tensors(st, transpose_delta("transformer.h.0.attn.c_proj.weight")), "other orientation"),
        ("gpt2", "-merged", tensors(st, replace("transformer.h.0.mlp.c_fc.weight",
                                                lambda t: t["transformer.h.0.mlp.c_fc.weight"].T.contiguous())),
         "[in, out]"),
        ("gpt2", "-merged", tensors(st, replace("transformer.ln_f.bias", lambda t: t["transformer.ln_f.bias"] + 1e-3)),
         "must equal the base"),
        ("gpt2", "-merged", tensors(st, replace("lm_head.weight", lambda t: t["transformer.wte.weight"] * 2)),
         "differs from transformer.wte.weight"),
    ]


def cmd_selftest(_args):
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        good = Path(tmp) / "good"
        for name in MODELS:
            shutil.copytree(FROM_PYTHON / name, good / name)
            write_merged_export(FROM_PYTHON / name, good / (name + "-merged"), name, 2 if name == "llama" else 1)
        ns = argparse.Namespace(dir=str(good), models=list(MODELS), dtypes="F32", write=True, no_consistency=False)
        assert cmd_check(ns) == 0
        for name in MODELS:
            exp = json.loads((FROM_PYTHON / name / "expected_logits.json").read_text())
            got = json.loads((good / name / "python_logits.json").read_text())
            assert got["logits"] == exp["logits"] and got["scalings"] == exp["scalings"], name
            mg = torch.tensor(json.loads((good / (name + "-merged") / "python_logits.json").read_text())["logits"])
            err = (mg - torch.tensor(exp["logits"])).abs().max().item()
            assert err < 5e-5, err
            print(f"selftest {name}: check reproduces expected_logits.json exactly; F32 merged export within {err:.1e}")
        # a module hit by a rank_pattern AND an alpha_pattern key: current PEFT reads both (accepted), older
        # releases only the first key of the chained dicts (warned)
        notes = []
        c = json.loads((FROM_PYTHON / "llama" / "adapter_config.json").read_text())
        c["alpha_pattern"] = {"o_proj": 12, "v_proj": 6}
        t, _ = interpret(c, Base("llama"), notes)
        v1 = t["model.layers.1.self_attn.v_proj"]
        assert (v1["r"], v1["alpha"]) == (2, 6) and any("older PEFT" in n for n in notes), notes
        print(f"selftest rank+alpha pattern on one module: r 2, alpha 6, with: {notes[0]}")
        for i, (name, part, doctor, frag) in enumerate(_doctored_cases()):
            case = Path(tmp) / f"bad{i}"
            shutil.copytree(good / name, case / name)
            shutil.copytree(good / (name + "-merged"), case / (name + "-merged"))
            doctor(case / (name + part))
            ns = argparse.Namespace(dir=str(case), models=[name], dtypes="F32", write=False, no_consistency=False)
            try:
                cmd_check(ns, quiet=True)
                msg = None
            except CheckError as e:
                msg = str(e)
            assert msg is not None and frag in msg, (i, name + part, frag, msg)
            print(f"selftest rejects {i:2d} {name + part:12s}: {' '.join(msg.split())[:140]}")
    print("selftest: OK")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("write", help="write from-python/ fixtures (PEFT -> peft4j)")
    c = sub.add_parser("check", help="read from-peft4j/ fixtures by PEFT's rules, write python_logits.json")
    c.add_argument("--dir", help=f"directory holding <model>/ and <model>-merged/ (default {FROM_PEFT4J.relative_to(ROOT)})")
    c.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    c.add_argument("--dtypes", default="F32", help="accepted tensor dtypes, comma-separated (default F32)")
    c.add_argument("--no-write", dest="write", action="store_false", help="check only, write no python_logits.json")
    c.add_argument("--no-consistency", action="store_true", help="skip merged == base + adapter delta")
    sub.add_parser("selftest", help="run check on good and doctored copies of from-python/ in a temp dir")
    args = ap.parse_args()
    rc = {"write": cmd_write, "check": cmd_check, "selftest": cmd_selftest}[args.cmd](args)
    sys.exit(rc or 0)


if __name__ == "__main__":
    main()
