# Writes the seed corpora of the peft4j fuzz tests (dev.peft4j.fuzz.*FuzzTest): small VALID inputs for
# each parser, plus the tiny byte-level BPE tokenizer the data target uses. Run once; the outputs are
# committed under peft4j-core/src/test/resources/ (SeedCorpusTest checks every seed is accepted).
#   python3 scripts/fuzz/make_seeds.py peft4j-core/src/test/resources [../shared]
import json, struct, os, sys
root = sys.argv[1]
shared = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared")
def w(rel, data):
    p = os.path.join(root, rel); os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, 'wb').write(data if isinstance(data, bytes) else data.encode())

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~")+1)) + list(range(ord("¡"), ord("¬")+1)) + list(range(ord("®"), ord("ÿ")+1))
    cs = bs[:]; n = 0
    for b in range(256):
        if b not in bs: bs.append(b); cs.append(256+n); n += 1
    return dict(zip(bs, [chr(c) for c in cs]))
b2u = bytes_to_unicode()
vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
for b in range(256): vocab[b2u[b]] = len(vocab)
merges = ["Ġ t", "h e", "Ġt he", "Ġ a"]
for m in merges:
    a, b = m.split(" "); vocab[a+b] = len(vocab)
added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
         for t, i in [("<unk>", 0), ("<s>", 1), ("</s>", 2)]]
tok = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
       "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
       "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
       "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
       "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                 "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                 "vocab": vocab, "merges": merges}}
tokjson = json.dumps(tok, ensure_ascii=False, separators=(",", ":"))
tokcfg = json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
                     "unk_token": "<unk>", "add_bos_token": True, "add_eos_token": False,
                     "chat_template": "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"}, indent=2)
fz = "dev/peft4j/fuzz/"
w(fz + "tiny-tokenizer/tokenizer.json", tokjson)
w(fz + "tiny-tokenizer/tokenizer_config.json", tokcfg)
w(fz + "TokenizerFuzzTestInputs/tokenizerJson/byte_level_bpe.json", tokjson)
wordlevel = {"version": "1.0", "added_tokens": [added[0], added[1], added[2]], "normalizer": {"type": "Lowercase"},
             "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None, "decoder": None,
             "model": {"type": "WordLevel", "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "once": 3, "upon": 4, "a": 5, "time": 6},
                       "unk_token": "<unk>"}}
w(fz + "TokenizerFuzzTestInputs/tokenizerJson/word_level.json", json.dumps(wordlevel, indent=1))
sp = {"version": "1.0", "added_tokens": added,
      "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
      "pre_tokenizer": None,
      "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                         "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                         "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
      "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
      "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None, "end_of_word_suffix": None,
                "fuse_unk": True, "byte_fallback": True,
                "vocab": dict([("<unk>", 0), ("<s>", 1), ("</s>", 2)] + [("<0x%02X>" % b, 3 + b) for b in range(256)] + [("▁", 259), ("o", 260), ("n", 261), ("▁o", 262), ("▁on", 263)]),
                "merges": ["▁ o", "▁o n"]}}
w(fz + "TokenizerFuzzTestInputs/tokenizerJson/sentencepiece_bpe.json", json.dumps(sp, ensure_ascii=False))
w(fz + "TokenizerFuzzTestInputs/tokenizerConfig/llama.json", tokcfg)
w(fz + "TokenizerFuzzTestInputs/tokenizerConfig/added_tokens_decoder.json", json.dumps({
    "tokenizer_class": "Qwen2Tokenizer", "bos_token": None, "eos_token": {"content": "</s>", "special": True},
    "added_tokens_decoder": {"1": {"content": "<s>", "special": True}, "2": {"content": "</s>", "special": True}},
    "add_bos_token": False, "add_eos_token": True}, indent=2))

# safetensors
def st(tensors, meta=None):
    header = {}; data = b""
    if meta is not None: header["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data
f32 = lambda *v: struct.pack("<%df" % len(v), *v)
w(fz + "SafeTensorsFuzzTestInputs/safetensorsFile/f32_two_tensors.safetensors",
  st([("a.weight", "F32", [2, 2], f32(1, 2, 3, 4)), ("b.bias", "F32", [2], f32(-1, 0.5))], {"format": "pt"}))
w(fz + "SafeTensorsFuzzTestInputs/safetensorsFile/half_types.safetensors",
  st([("h", "F16", [3], struct.pack("<3e", 1.0, -2.0, 0.5)), ("bf", "BF16", [2], b"\x80\x3f\x00\x40"),
      ("i", "I64", [1], struct.pack("<q", 7)), ("s", "F32", [], f32(3.0)), ("e", "U8", [0], b"")]))
w(fz + "SafeTensorsFuzzTestInputs/safetensorsFile/empty_header.safetensors", st([]))
w(fz + "SafeTensorsFuzzTestInputs/checkpointIndex/two_shards.json", json.dumps(
    {"metadata": {"total_size": 24}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                                                    "b.bias": "model-00001-of-00002.safetensors",
                                                    "c.weight": "model-00002-of-00002.safetensors"}}, indent=2))
w(fz + "SafeTensorsFuzzTestInputs/checkpointIndex/one_shard.json", json.dumps(
    {"weight_map": {"c.weight": "model-00002-of-00002.safetensors"}}))

# config.json
w(fz + "ModelConfigFuzzTestInputs/configJson/stories260K.json", open(os.path.join(shared, "models", "stories260K", "config.json")).read())
w(fz + "ModelConfigFuzzTestInputs/configJson/gpt2.json", json.dumps({"model_type": "gpt2", "vocab_size": 50257, "n_embd": 768,
    "n_head": 12, "n_layer": 12, "n_positions": 1024, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
    "bos_token_id": 50256, "eos_token_id": 50256, "n_inner": None}, indent=2))
w(fz + "ModelConfigFuzzTestInputs/configJson/qwen2_llama3_rope.json", json.dumps({"model_type": "qwen2", "vocab_size": 151936,
    "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
    "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "use_sliding_window": False,
    "tie_word_embeddings": True, "eos_token_id": [151645, 151643], "torch_dtype": "bfloat16",
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192}}, indent=2))
w(fz + "ModelConfigFuzzTestInputs/configJson/mistral_window.json", json.dumps({"model_type": "mistral", "vocab_size": 32000,
    "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "head_dim": 128, "sliding_window": 4096, "hidden_act": "silu",
    "rope_scaling": {"type": "linear", "factor": 2.0}}))

# adapter_config.json (PEFT's own layout)
peft = {"alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": "tiny-llama", "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layer_replication": None,
        "layers_pattern": None, "layers_to_transform": None, "loftq_config": {}, "lora_alpha": 8, "lora_dropout": 0.05,
        "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA", "r": 2,
        "rank_pattern": {}, "revision": None, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM",
        "use_dora": False, "use_rslora": False}
w(fz + "AdapterConfigFuzzTestInputs/adapterConfig/peft_q_v.json", json.dumps(peft, indent=2, sort_keys=True))
p2 = dict(peft, target_modules="all-linear", use_rslora=True, init_lora_weights="gaussian", lora_alpha=16.5)
w(fz + "AdapterConfigFuzzTestInputs/adapterConfig/all_linear_rslora.json", json.dumps(p2, indent=2, sort_keys=True))
p3 = dict(peft, layers_to_transform=[0, 1], layers_pattern="layers", rank_pattern={"q_proj": 4}, alpha_pattern={"v_proj": 32},
          modules_to_save=["lm_head"], exclude_modules=["o_proj"])
w(fz + "AdapterConfigFuzzTestInputs/adapterConfig/patterns.json", json.dumps(p3, indent=2, sort_keys=True))
p4 = dict(peft, target_modules=".*\\.(q_proj|k_proj)$")
w(fz + "AdapterConfigFuzzTestInputs/adapterConfig/regex_targets.json", json.dumps(p4, indent=2, sort_keys=True))
