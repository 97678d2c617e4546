#!/usr/bin/env python3
"""
make_chat_template_goldens.py -- what Python's jinja2 renders for the Qwen3 and Gemma 3 chat templates, the
way transformers' apply_chat_template renders them (tokenization_utils_base / utils/chat_template_utils.py
_compile_jinja_template): an ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the
loopcontrols extension, tojson = json.dumps(ensure_ascii=False), raise_exception, and the render kwargs
messages, add_generation_prompt, tools=None, documents=None, the tokenizer's special tokens (bos_token,
eos_token, pad_token, unk_token) and any template kwargs (Qwen3's enable_thinking).

Run:  /usr/bin/python3 scripts/golden/make_chat_template_goldens.py     (needs python3-jinja2 and ../shared)
Reads ../shared/tokenizers/{qwen3,gemma3}/tokenizer_config.json; writes
peft4j-core/src/test/resources/data/chat/template_goldens.json: [{template, name, messages,
add_generation_prompt, kwargs, expected}] for ChatTemplateGoldenTest.
"""
import json
import sys
from pathlib import Path

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "tokenizers"
OUT = ROOT / "peft4j-core" / "src" / "test" / "resources" / "data" / "chat" / "template_goldens.json"


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def special_tokens(cfg):
    out = {}
    for k in ("bos_token", "eos_token", "pad_token", "unk_token"):
        v = cfg.get(k)
        if isinstance(v, dict):
            v = v.get("content")
        if v is not None:
            out[k] = v
    return out


def render(source, cfg, messages, add_generation_prompt, kwargs):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    t = env.from_string(source)
    return t.render(messages=messages, tools=None, documents=None, add_generation_prompt=add_generation_prompt,
                    **special_tokens(cfg), **kwargs)


def m(role, content, **extra):
    d = {"role": role, "content": content}
    d.update(extra)
    return d


CONVERSATIONS = {
    "system, user, assistant": [m("system", "You are a helpful assistant."), m("user", "What is 2+2?\n"),
                                m("assistant", "2+2 equals 4.")],
    "user only": [m("user", "Hi")],
    "multi-turn": [m("system", "Answer briefly."), m("user", "Capital of France?"), m("assistant", "Paris."),
                   m("user", "And of Italy?"), m("assistant", "Rome."), m("user", "Thanks! Ünïcödé ✓")],
    "assistant with thinking": [m("user", "Is 7 prime?"),
                                m("assistant", "<think>\nIt has no divisors but 1 and 7.\n</think>\n\nYes."),
                                m("user", "And 9?"), m("assistant", "<think>\n9 = 3 * 3\n</think>\n\nNo.")],
    "prefix to continue": [m("user", "Tell me a story."), m("assistant", "Once upon a time")],
    "roles not alternating": [m("user", "One."), m("user", "Two.")],
}
# Gemma 3 also takes a message's content as a list of typed parts
GEMMA_ONLY = {
    "content as parts": [m("system", [{"type": "text", "text": "Be terse."}]),
                         m("user", [{"type": "text", "text": "Describe"}, {"type": "text", "text": " a cat."}])],
}


def main():
    cases = []
    for name in ("qwen3", "gemma3"):
        cfg = json.loads((SHARED / name / "tokenizer_config.json").read_text())
        source = cfg["chat_template"]
        convs = dict(CONVERSATIONS, **(GEMMA_ONLY if name == "gemma3" else {}))
        for conv_name, messages in convs.items():
            for agp in (False, True):
                kw_variants = [{}]
                if name == "qwen3":
                    kw_variants = [{}, {"enable_thinking": False}]
                for kwargs in kw_variants:
                    try:
                        expected = render(source, cfg, messages, agp, kwargs)
                        error = None
                    except jinja2.exceptions.TemplateError as e:  # e.g. Gemma's role alternation check
                        expected, error = None, str(e)
                    cases.append({"template": name, "name": conv_name, "messages": messages,
                                  "add_generation_prompt": agp, "kwargs": kwargs, "expected": expected, "error": error})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n")
    errors = sum(c["error"] is not None for c in cases)
    print(f"{len(cases)} renders ({errors} raise) -> {OUT.relative_to(ROOT)}")
    for c in cases[:2]:
        print(repr(c["expected"]))


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    main()
