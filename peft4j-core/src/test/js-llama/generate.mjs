#!/usr/bin/env node
// Greedy generation with the REAL llama.cpp (node-llama-cpp 3.21.1 prebuilt CPU binary),
// used to judge GGUF models / LoRA adapters exported by peft4j.
//
// usage: node generate.mjs --model M.gguf [--lora A.gguf] [--lora-scale 1]
//                          [--prompt TEXT | --tokens 1,2,3] [--n 32] [--threads 2]
//                          [--bos auto|yes|no] [--logits | --logits-full] [--kv f32|f16] [--ctx N] [--ignore-eos]
//        node generate.mjs --model M.gguf --tokenize STRINGS.json
//
// --tokenize: loads only the vocabulary and prints {"tokenized": [[ids...], ...]}, llama.cpp's ids of each
//   string of the JSON array (no BOS, no special-token parsing), then exits.
// --ignore-eos: generate exactly --n tokens even past an end-of-generation token (for timing).
//
// --tokens: raw ids, used verbatim (no BOS added unless --bos yes). --prompt: tokenized by llama.cpp
//   (no special-token parsing); BOS prepended when --bos yes, or --bos auto and the GGUF says
//   tokenizer.ggml.add_bos_token (default for "llama"/SPM vocabularies).
// --logits: also report log-softmax of the last prompt position (first 16 values + argmax);
//   --logits-full adds the whole vector as "all". Raw logits are not reachable through
//   node-llama-cpp; log-softmax equals logits minus a per-position constant.
// --threads: llama.cpp worker threads (default 2). On a loaded 2-core machine use 1: llama.cpp's
//   threads spin-wait, and 2 threads competing with another busy process ran ~100x slower here.
// --kv: KV-cache type, F32 by default (llama.cpp's stock default F16 costs ~6e-3 in log-probs).
// Exit code 0 on success; on failure one JSON line {"error": "..."} on stdout and exit code 1.
//
// Prints ONE JSON line on stdout:
//   {"prompt_tokens":[...], "tokens":[...], "text":"...", "eos":bool, "seconds":x, "tokens_per_s":y,
//    "first_token_s":f, "decode_tokens_per_s":d [, "logits": {...}]}
// seconds/tokens_per_s: prompt evaluation + generation; first_token_s: until the first generated token;
// decode_tokens_per_s: the tokens after the first over the time after it (decoding alone).
// Everything else (llama.cpp logs) goes to stderr.
//
// Offline / no-compile / no-GPU: getLlama is called with gpu:false, build:"never",
// usePrebuiltBinaries:true, skipDownload:true, so node-llama-cpp only ever loads the
// prebuilt binary from node_modules/@node-llama-cpp/linux-x64 and never downloads or
// compiles llama.cpp. The env vars below are set as a second line of defence (they are the
// ones node-llama-cpp reads, once, when its dist/config.js is first imported -- hence the
// dynamic import after setting them; a static import would be hoisted above these lines).
process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= "true";
process.env.NODE_LLAMA_CPP_GPU ??= "false";

const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");

function usage(msg) {
    if (msg) process.stderr.write(`generate.mjs: ${msg}\n`);
    process.stderr.write(
        "usage: node generate.mjs --model M.gguf [--lora A.gguf] [--lora-scale 1] " +
        "[--prompt TEXT | --tokens 1,2,3] [--n 32] [--threads 2] [--bos auto|yes|no] [--logits | --logits-full] [--kv f32|f16] [--ctx N] [--ignore-eos]\n" +
        "       node generate.mjs --model M.gguf --tokenize STRINGS.json\n");
    process.exit(2);
}

function parseArgs(argv) {
    const a = { kv: "F32", n: 32, threads: 2, bos: "auto", loraScale: 1, logits: false, logitsFull: false, ignoreEos: false };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        const v = () => {
            if (i + 1 >= argv.length) usage(`missing value for ${k}`);
            return argv[++i];
        };
        switch (k) {
            case "--model": a.model = v(); break;
            case "--lora": a.lora = v(); break;
            case "--lora-scale": a.loraScale = Number(v()); break;
            case "--prompt": a.prompt = v(); break;
            case "--tokens": a.tokens = v().split(",").filter((s) => s.trim() !== "").map((s) => {
                const t = Number(s.trim());
                if (!Number.isInteger(t) || t < 0) usage(`bad token id '${s}'`);
                return t;
            }); break;
            case "--n": a.n = Number(v()); break;
            case "--threads": a.threads = Number(v()); break;
            case "--bos": a.bos = v(); break;
            case "--ctx": a.ctx = Number(v()); break;
            case "--kv": a.kv = v().toUpperCase(); break;
            case "--logits": a.logits = true; break;
            case "--ignore-eos": a.ignoreEos = true; break;
            case "--tokenize": a.tokenize = v(); break;
            case "--logits-full": a.logits = true; a.logitsFull = true; break;
            case "-h": case "--help": usage(); break;
            default: usage(`unknown argument ${k}`);
        }
    }
    if (!a.model) usage("--model is required");
    if (a.prompt != null && a.tokens != null) usage("give --prompt or --tokens, not both");
    if (!["auto", "yes", "no"].includes(a.bos)) usage("--bos must be auto, yes or no");
    if (!Number.isInteger(a.n) || a.n < 0) usage("--n must be an integer >= 0");
    if (!Number.isFinite(a.loraScale)) usage("--lora-scale must be a number");
    if (!["F32", "F16"].includes(a.kv)) usage("--kv must be f32 or f16");
    return a;
}

const args = parseArgs(process.argv.slice(2));
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);
function fail(err) {
    process.stdout.write(JSON.stringify({ error: String(err?.message ?? err) }) + "\n");
    process.stderr.write(String(err?.stack ?? err) + "\n");
    process.exit(1);
}

const llama = await getLlama({
    gpu: false,                 // CPU only, never probe CUDA/Vulkan/Metal
    build: "never",             // never compile llama.cpp from source
    usePrebuiltBinaries: true,  // use @node-llama-cpp/linux-x64 from node_modules
    skipDownload: true,         // never download llama.cpp sources/binaries
    progressLogs: false,
    maxThreads: args.threads,
    logLevel: LlamaLogLevel.error,
    logger: (level, message) => process.stderr.write(`[llama.cpp ${level}] ${message}${message.endsWith("\n") ? "" : "\n"}`),
});

if (args.tokenize != null) {
    const { readFileSync } = await import("node:fs");
    const strings = JSON.parse(readFileSync(args.tokenize, "utf8"));
    if (!Array.isArray(strings) || strings.some((s) => typeof s !== "string")) usage("--tokenize wants a JSON array of strings");
    const vocab = await llama.loadModel({ modelPath: args.model, gpuLayers: 0, vocabOnly: true });
    process.stdout.write(JSON.stringify({ tokenized: strings.map((s) => s === "" ? [] : vocab.tokenize(s, false)) }) + "\n");
    process.exit(0);
}

const model = await llama.loadModel({ modelPath: args.model, gpuLayers: 0 });

// ---- prompt tokens ---------------------------------------------------------------------
const bosId = model.tokens.bos;
let promptTokens;
if (args.tokens != null) {
    // Raw ids are taken verbatim; --bos yes prepends BOS if not already first, auto/no leave them.
    promptTokens = [...args.tokens];
    if (args.bos === "yes" && bosId != null && promptTokens[0] !== bosId) promptTokens.unshift(bosId);
} else {
    // llama.cpp's own tokenizer (common_tokenize(vocab, text, add_special=false, parse_special=false));
    // BOS is added here according to --bos (auto = the GGUF's tokenizer.ggml.add_bos_token).
    promptTokens = args.prompt != null && args.prompt !== "" ? model.tokenize(args.prompt, false) : [];
    const addBos = args.bos === "yes" || (args.bos === "auto" && model.tokens.shouldPrependBosToken);
    if (addBos && bosId != null) promptTokens.unshift(bosId);
}
if (promptTokens.length === 0) {
    if (bosId == null) usage("empty prompt and the model has no BOS token");
    promptTokens = [bosId];   // llama.cpp cannot decode an empty batch; start from BOS
}
const vocabSize = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
for (const t of promptTokens) {
    if (vocabSize != null && t >= vocabSize) usage(`token id ${t} out of range (vocab ${vocabSize})`);
}

// ---- context (+ LoRA) ------------------------------------------------------------------
const trainCtx = model.trainContextSize;
const need = promptTokens.length + args.n + 1;
const contextSize = args.ctx ?? Math.max(Math.min(trainCtx, Math.max(need, 64)), need);
const context = await model.createContext({
    contextSize,
    batchSize: Math.max(promptTokens.length, 32),
    sequences: 1,
    threads: args.threads,
    flashAttention: false,
    // KV cache precision: llama.cpp's default is F16, which alone moves log-probs by ~6e-3 on
    // stories260K. F32 (our default, --kv f32) makes llama.cpp an fp32 reference; --kv f16 = stock.
    experimentalKvCacheKeyType: args.kv,
    experimentalKvCacheValueType: args.kv,
    ...(args.lora != null ? { lora: { adapters: [{ filePath: args.lora, scale: args.loraScale }] } } : {}),
});
const sequence = context.getSequence();

// Greedy: temperature 0 makes node-llama-cpp put ONLY llama.cpp's greedy sampler in the chain
// (no top-k/top-p/min-p/temperature/dist samplers); no repeatPenalty/dryRepeatPenalty/tokenBias/
// grammar is given, so logits are used untouched.
const sampling = { temperature: 0, topK: 1, yieldEogToken: true };

const out = { prompt_tokens: promptTokens };
const generated = [];
let eos = false;

if (args.logits) {
    // node-llama-cpp exposes no raw logits. With the greedy sampler the candidate array is the full,
    // unmodified logit vector and `probabilities` is its exact softmax (computed in the addon in
    // float32). So we report log-probabilities = logit - logsumexp(logits), i.e. the logits up to an
    // additive per-position constant. Compare against log_softmax(reference logits).
    const it = sequence.evaluateWithMetadata(promptTokens, { probabilities: true }, sampling);
    const first = await it.next();
    await it.return();
    if (!first.done) {
        const probs = first.value.probabilities;      // Map<token, prob>, sorted by prob desc
        const n = vocabSize ?? probs.size;   // greedy keeps the full vocabulary as candidates
        const logp = new Array(n).fill(null);
        for (const [tok, p] of probs) logp[tok] = Math.log(p);
        let argmax = 0;
        for (let i = 1; i < n; i++) if ((logp[i] ?? -Infinity) > (logp[argmax] ?? -Infinity)) argmax = i;
        out.logits = {
            kind: "log_softmax (logits minus logsumexp; raw logits are not exposed by node-llama-cpp)",
            position: promptTokens.length - 1,
            n_vocab: n,
            first16: logp.slice(0, 16),
            argmax,
            argmax_token: first.value.token,
            ...(args.logitsFull ? { all: logp } : {}),
        };
    }
    // reset the sequence so the generation below starts from a clean state (simplest, exact)
    await sequence.clearHistory();
}

// timing covers prompt evaluation + generation only (not model load, not the --logits pass)
const t0 = process.hrtime.bigint();
let tFirst = null;
if (args.n > 0) {
    const gen = sequence.evaluate(promptTokens, sampling);
    for await (const token of gen) {
        if (tFirst == null) tFirst = process.hrtime.bigint();
        if (model.isEogToken(token) && !args.ignoreEos) { eos = true; break; }
        generated.push(token);
        if (generated.length >= args.n) break;
    }
}
const t1 = process.hrtime.bigint();
const seconds = Number(t1 - t0) / 1e9;
out.first_token_s = tFirst == null ? null : Number((Number(tFirst - t0) / 1e9).toFixed(6));
const decodeSeconds = tFirst == null ? 0 : Number(t1 - tFirst) / 1e9;
out.decode_tokens_per_s = generated.length > 1 && decodeSeconds > 0 ? Number(((generated.length - 1) / decodeSeconds).toFixed(3)) : null;

out.tokens = generated;
out.text = model.detokenize(generated);
out.eos = eos;
out.seconds = Number(seconds.toFixed(6));
out.tokens_per_s = seconds > 0 ? Number((generated.length / seconds).toFixed(3)) : null;

// logits key last-but-one reads oddly; put it at the end
if (out.logits) { const l = out.logits; delete out.logits; out.logits = l; }
process.stdout.write(JSON.stringify(out) + "\n");

await context.dispose();
await model.dispose();
await llama.dispose();
