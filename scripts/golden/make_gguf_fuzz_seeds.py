"""Seeds for GgufFuzzTest: tiny GGUF files (v3 and v2, one v1) with every metadata type and a few tensor types.
Usage: python3 scripts/golden/make_gguf_fuzz_seeds.py OUT_DIR"""
import struct, sys, os
import numpy as np

def s(b, v, ver):  # string
    e = v.encode()
    return b + (struct.pack('<I', len(e)) if ver == 1 else struct.pack('<Q', len(e))) + e

def gguf(ver, kvs, tensors):
    out = b'GGUF' + struct.pack('<I', ver)
    cnt = '<I' if ver == 1 else '<Q'
    out += struct.pack(cnt, len(tensors)) + struct.pack(cnt, len(kvs))
    for k, t, v in kvs:
        out = s(out, k, ver) + struct.pack('<I', t)
        if t == 8: out = s(out, v, ver)
        elif t == 9:
            et, vals = v
            out += struct.pack('<I', et) + struct.pack(cnt, len(vals))
            for x in vals:
                if et == 8: out = s(out, x, ver)
                else: out += struct.pack({4: '<I', 5: '<i', 6: '<f'}[et], x)
        else: out += struct.pack({0: '<B', 1: '<b', 2: '<H', 3: '<h', 4: '<I', 5: '<i', 6: '<f', 7: '<?', 10: '<Q', 11: '<q', 12: '<d'}[t], v)
    off, blobs = 0, []
    for name, dims, typ, data in tensors:
        out = s(out, name, ver) + struct.pack('<I', len(dims))
        for d in dims: out += struct.pack('<I' if ver == 1 else '<Q', d)
        out += struct.pack('<I', typ) + struct.pack('<Q', off)
        pad = (-len(data)) % 32
        blobs.append(data + b'\0' * pad)
        off += len(data) + pad
    out += b'\0' * ((-len(out)) % 32)
    return out + b''.join(blobs)

rng = np.random.default_rng(0)
f32 = rng.standard_normal(8).astype('<f4').tobytes()
q8 = b''.join(struct.pack('<e', 0.05) + rng.integers(-127, 128, 32, dtype=np.int8).tobytes() for _ in range(2))
q4k = rng.integers(0, 256, 144, dtype=np.uint8).tobytes()
q6k = rng.integers(0, 256, 208, dtype=np.uint8).tobytes() + struct.pack('<e', 0.01)
kvs = [('general.architecture', 8, 'llama'), ('general.alignment', 4, 32), ('llama.block_count', 4, 1), ('llama.embedding_length', 4, 8),
       ('llama.attention.head_count', 4, 2), ('llama.feed_forward_length', 4, 16), ('llama.attention.layer_norm_rms_epsilon', 6, 1e-5),
       ('u8', 0, 7), ('i8', 1, -7), ('u16', 2, 700), ('i16', 3, -700), ('i32', 5, -70000), ('b', 7, True), ('u64', 10, 2**40), ('i64', 11, -2**40),
       ('f64', 12, 0.25), ('tokenizer.ggml.model', 8, 'llama'), ('tokenizer.ggml.tokens', 9, (8, ['<unk>', '<s>', '</s>', '\u2581a', 'b', '\u2581ab'])),
       ('tokenizer.ggml.scores', 9, (6, [0.0, 0.0, 0.0, -1.0, -2.0, -0.5])), ('tokenizer.ggml.token_type', 9, (5, [2, 3, 3, 1, 1, 1])),
       ('tokenizer.ggml.bos_token_id', 4, 1), ('tokenizer.ggml.eos_token_id', 4, 2)]
tensors = [('output_norm.weight', [8], 0, f32), ('token_embd.weight', [32, 2], 8, q8), ('blk.0.ffn_down.weight', [256, 1], 12, q4k),
           ('blk.0.ffn_up.weight', [256, 1], 14, q6k)]
d = sys.argv[1]
open(os.path.join(d, 'v3-llama.gguf'), 'wb').write(gguf(3, kvs, tensors))
open(os.path.join(d, 'v2-small.gguf'), 'wb').write(gguf(2, kvs[:3], tensors[:2]))
open(os.path.join(d, 'v1-small.gguf'), 'wb').write(gguf(1, kvs[:3] + kvs[16:20], tensors[:1]))
# Llama 3.1-style RoPE scaling as rope_freqs (head size 4: two factors, the llama3 path of GgufModel.config)
open(os.path.join(d, 'v3-rope-freqs.gguf'), 'wb').write(gguf(3, kvs + [('llama.rope.freq_base', 6, 10000.0)],
                                                            tensors + [('rope_freqs.weight', [2], 0, struct.pack('<2f', 1.0, 8.0))]))
open(os.path.join(d, 'empty-v3.gguf'), 'wb').write(gguf(3, [], []))
