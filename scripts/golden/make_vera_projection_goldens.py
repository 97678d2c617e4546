"""VeRA's shared projections as torch makes them (PEFT 0.14 tuners/vera/model.py: a CPU torch.Generator
seeded with projection_prng_key, then a kaiming-uniform fill of vera_A (r, max_in) and then vera_B
(max_out, r) from that generator). PEFT 0.14 does not load the saved base_model.vera_A / vera_B back (the
saved keys lack the adapter name its buffers carry), it regenerates them; so peft4j must produce the
same values. This writes torch's values as float32 bit patterns for peft4j's TorchGenerator test.

Run: /usr/bin/python3 scripts/golden/make_vera_projection_goldens.py
Writes peft4j-core/src/test/resources/golden/vera/torch_projections.json (own code, not PEFT's)."""
import json
import math
import os
import struct

import torch


def kaiming_pair(key, r, max_in, max_out):
    g = torch.Generator(device="cpu").manual_seed(key)
    a = torch.empty(r, max_in)
    b = torch.empty(max_out, r)
    ba = math.sqrt(3.0) * (math.sqrt(2) / math.sqrt(max_in))
    bb = math.sqrt(3.0) * (math.sqrt(2) / math.sqrt(r))
    a.uniform_(-ba, ba, generator=g)
    b.uniform_(-bb, bb, generator=g)
    return a, b


def bits(t):
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in t.flatten().tolist()]


cases = []
# (key, r, max_in, max_out): stories260K's q_proj/v_proj/down_proj with r 8, small odd shapes, a key over 32 bits
for key, r, mi, mo in [(0, 8, 172, 64), (0, 4, 10, 7), (123456789, 3, 5, 6), (2**33 + 5, 2, 3, 4), (7, 16, 64, 64)]:
    a, b = kaiming_pair(key, r, mi, mo)
    cases.append({"key": key, "r": r, "max_in": mi, "max_out": mo, "vera_A_bits": bits(a), "vera_B_bits": bits(b)})

out = os.path.join(os.path.dirname(__file__), "../../peft4j-core/src/test/resources/golden/vera/torch_projections.json")
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)
print("wrote", os.path.normpath(out), "torch", torch.__version__)
