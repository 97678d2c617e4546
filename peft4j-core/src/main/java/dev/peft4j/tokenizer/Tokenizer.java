/*
 * Tokenizer: text <-> token ids for a HuggingFace causal-LM directory, with the model's special
 * tokens (BOS/EOS) and incremental decoding for streamed generation.
 *
 * Encoding and decoding run in HuggingFace's own Rust tokenizers library (through DJL's JNI
 * binding, bundled for linux-x86_64, no network), so ids match transformers' fast tokenizers
 * exactly. Sources, in order:
 *   1. tokenizer.json (any model the Rust library supports: byte-level BPE, SentencePiece-style
 *      BPE with byte fallback, Unigram, WordPiece);
 *   2. vocab.json + merges.txt (GPT-2 / Qwen2 "slow" files): the equivalent tokenizer.json is
 *      assembled in memory by ByteLevelBpe, following transformers' convert_slow_tokenizer.py.
 *
 * Special tokens: BOS/EOS text and add_bos_token / add_eos_token come from tokenizer_config.json
 * (special_tokens_map.json as fallback); generation's stop ids from generation_config.json
 * (config.json when absent). encode() never adds special tokens (HF add_special_tokens=False);
 * encodeWithSpecial() prepends BOS / appends EOS itself, so a post-processor in tokenizer.json
 * can never add them twice.
 *
 * Constraints: DJL applies tokenizer.json's truncation/padding blocks unless told not to - both are
 * disabled here, texts are never cut. decode() is lossless: it does not apply transformers'
 * clean_up_tokenization_spaces (which rewrites " ." to "."), so decode(encode(s)) == s for
 * byte-level BPE tokenizers. encode/decode may be called from several threads (the native
 * tokenizer is not modified after loading); a Stream is single-threaded. close() frees the native
 * tokenizer.
 */
package dev.peft4j.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.peft4j.Peft4jException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

public final class Tokenizer implements AutoCloseable {

    /** Where the vocabulary came from. */
    public enum Source { TOKENIZER_JSON, GPT2_VOCAB_MERGES, QWEN2_VOCAB_MERGES }

    /** Tokenizer classes whose transformers implementation adds BOS unless told otherwise. */
    private static final Set<String> BOS_BY_DEFAULT = Set.of(
            "LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer", "CodeLlamaTokenizerFast",
            "GemmaTokenizer", "GemmaTokenizerFast");

    private static final Map<String, String> DJL_OPTIONS = Map.of(
            "addSpecialTokens", "false", "truncation", "false", "padding", "false");

    private final HuggingFaceTokenizer hf;
    private final Vocab vocab;
    private final Source source;
    private final Path dir;
    private final OptionalInt bosId;
    private final OptionalInt eosTokenId;    // the tokenizer's own eos_token (what add_eos_token appends)
    private final Set<Integer> eosIds;
    private final boolean addsBos;
    private final boolean addsEos;
    private final JsonNode tree;             // the tokenizer.json this tokenizer runs (read or assembled)

    private Tokenizer(HuggingFaceTokenizer hf, Vocab vocab, Source source, Path dir, OptionalInt bosId,
                      OptionalInt eosTokenId, Set<Integer> eosIds, boolean addsBos, boolean addsEos, JsonNode tree) {
        this.tree = tree;
        this.hf = hf;
        this.vocab = vocab;
        this.source = source;
        this.dir = dir;
        this.bosId = bosId;
        this.eosTokenId = eosTokenId;
        this.eosIds = eosIds;
        this.addsBos = addsBos;
        this.addsEos = addsEos;
    }

    /**
     * Loads the tokenizer of a HuggingFace model (or tokenizer-only) directory: tokenizer.json when
     * present, else vocab.json + merges.txt (GPT-2 / Qwen2 byte-level BPE).
     *
     * @throws Peft4jException when the directory has no usable tokenizer files or they are malformed
     */
    public static Tokenizer load(Path modelDir) {
        Objects.requireNonNull(modelDir, "modelDir");
        modelDir = dev.peft4j.model.GgufModel.view(modelDir);                 // a GGUF file: tokenizer.ggml.* as tokenizer.json
        if (!Files.isDirectory(modelDir)) {
            throw new Peft4jException("tokenizer directory " + modelDir + " does not exist or is not a "
                    + "directory; pass the folder that holds tokenizer.json (or vocab.json + merges.txt)");
        }
        TokenizerSpec spec = TokenizerSpec.read(modelDir);
        Path tokenizerJson = modelDir.resolve("tokenizer.json");
        Path vocabJson = modelDir.resolve("vocab.json");
        Path mergesTxt = modelDir.resolve("merges.txt");

        String json;
        JsonNode tree;
        Source source;
        if (Files.isRegularFile(tokenizerJson)) {
            try {
                json = Files.readString(tokenizerJson, StandardCharsets.UTF_8);
                tree = TokenizerSpec.JSON.readTree(json);
            } catch (IOException e) {
                throw new Peft4jException("cannot read " + tokenizerJson + " as JSON: " + e.getMessage()
                        + "; re-download the file or delete it to fall back to vocab.json + merges.txt", e);
            }
            source = Source.TOKENIZER_JSON;
        } else if (Files.isRegularFile(vocabJson) && Files.isRegularFile(mergesTxt)) {
            ByteLevelBpe.Family family = ByteLevelBpe.Family.detect(spec, modelDir);
            ObjectNode built = ByteLevelBpe.build(modelDir, family, spec);
            try {
                json = TokenizerSpec.JSON.writeValueAsString(built);
            } catch (IOException e) {
                throw new Peft4jException("cannot serialise the tokenizer assembled from " + vocabJson, e);
            }
            tree = built;
            source = family == ByteLevelBpe.Family.QWEN2 ? Source.QWEN2_VOCAB_MERGES : Source.GPT2_VOCAB_MERGES;
        } else {
            throw new Peft4jException("no tokenizer in " + modelDir + ": looked for tokenizer.json, or "
                    + "vocab.json together with merges.txt; found " + listing(modelDir) + ". Fix: copy the "
                    + "tokenizer files from the model's HuggingFace repository, or in Python run "
                    + "AutoTokenizer.from_pretrained(<model>).save_pretrained(\"" + modelDir + "\")");
        }

        Vocab vocab = Vocab.of(tree, source == Source.TOKENIZER_JSON ? tokenizerJson.toString() : vocabJson.toString());
        HuggingFaceTokenizer hf;
        try {
            hf = HuggingFaceTokenizer.newInstance(
                    new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), DJL_OPTIONS);
        } catch (IOException | RuntimeException e) {
            throw new Peft4jException("HuggingFace tokenizers rejected the tokenizer of " + modelDir + " ("
                    + source + "): " + e.getMessage(), e);
        }
        try {
            return withSpecials(hf, vocab, source, modelDir, spec, tree);
        } catch (RuntimeException e) {
            hf.close();
            throw e;
        }
    }

    private static Tokenizer withSpecials(HuggingFaceTokenizer hf, Vocab vocab, Source source, Path dir,
                                          TokenizerSpec spec, JsonNode tree) {
        Template template = Template.of(tree.path("post_processor"));

        // BOS: the tokenizer's bos_token; else the model's bos_token_id; else the template's prefix.
        OptionalInt bos = idOfText(vocab, spec.specialToken("bos_token"));
        if (bos.isEmpty()) bos = first(spec.generationIds("bos_token_id"));
        if (bos.isEmpty()) bos = template.prefix;

        OptionalInt eosToken = idOfText(vocab, spec.specialToken("eos_token"));
        LinkedHashSet<Integer> eos = new LinkedHashSet<>(spec.generationIds("eos_token_id"));
        eosToken.ifPresent(eos::add);
        if (eosToken.isEmpty()) eosToken = first(new ArrayList<>(eos));
        if (eosToken.isEmpty()) eosToken = template.suffix;

        // add_bos_token: explicit config flag; else the class's transformers default; else whatever
        // tokenizer.json's post-processor template does. Same for EOS (no class adds EOS by default).
        boolean addBos = spec.flag("add_bos_token").orElseGet(() ->
                spec.tokenizerClass().map(BOS_BY_DEFAULT::contains).orElse(false) || template.prefix.isPresent());
        boolean addEos = spec.flag("add_eos_token").orElseGet(template.suffix::isPresent);

        return new Tokenizer(hf, vocab, source, dir, bos, eosToken, Collections.unmodifiableSet(eos),
                addBos && bos.isPresent(), addEos && eosToken.isPresent(), tree);
    }

    // ---------------------------------------------------------------- encoding and decoding

    /** Token ids of text without any special tokens (HF {@code encode(text, add_special_tokens=False)}). */
    public int[] encode(String text) {
        Objects.requireNonNull(text, "text");
        try {
            return toInts(hf.encode(text, false, false).getIds());
        } catch (RuntimeException e) {
            throw nativeError("encode", e);
        }
    }

    /**
     * A failure of the native library on a text as a typed error: it means the tokenizer files are
     * inconsistent (found by fuzzing: a WordLevel model whose "unk_token" is not in its vocabulary
     * loads fine and then fails on every unknown word).
     */
    private Peft4jException nativeError(String what, RuntimeException e) {
        return new Peft4jException("HuggingFace tokenizers could not " + what + " text with the tokenizer of " + dir
                + ": " + e.getMessage() + ". The tokenizer files are inconsistent (e.g. the model's \"unk_token\" is"
                + " not in its vocabulary); re-download tokenizer.json from the model's repository", e);
    }

    /**
     * Token ids of many texts at once, without special tokens; the native library encodes them in
     * parallel. Same result as calling {@link #encode(String)} on each.
     */
    public List<int[]> encodeBatch(List<String> texts) {
        String[] array = texts.toArray(String[]::new);
        for (int i = 0; i < array.length; i++) Objects.requireNonNull(array[i], "texts[" + i + "]");
        if (array.length == 0) return List.of();
        ai.djl.huggingface.tokenizers.Encoding[] encodings;
        try {
            encodings = hf.batchEncode(array, false, false);
        } catch (RuntimeException e) {
            throw nativeError("encode", e);
        }
        List<int[]> out = new ArrayList<>(encodings.length);
        for (ai.djl.huggingface.tokenizers.Encoding e : encodings) out.add(toInts(e.getIds()));
        return out;
    }

    /**
     * Token ids of text (no special tokens added, as {@link #encode(String)}) together with the
     * span of text each token came from, as Java string indices: token i covers
     * {@code text.substring(starts[i], ends[i])}. Byte-fallback and byte-level tokens that hold part
     * of one character share that character's span; a token the normalizer invented (e.g.
     * SentencePiece's leading "▁") may have an empty span. Used to map character ranges of a
     * rendered chat back to tokens (assistant-only loss masks).
     */
    public Encoded encodeWithOffsets(String text) {
        Objects.requireNonNull(text, "text");
        ai.djl.huggingface.tokenizers.Encoding e;
        try {
            e = hf.encode(text, false, false);
        } catch (RuntimeException ex) {
            throw nativeError("encode", ex);
        }
        int[] ids = toInts(e.getIds());
        ai.djl.huggingface.tokenizers.jni.CharSpan[] spans = e.getCharTokenSpans();
        if (spans == null || spans.length != ids.length) {
            throw new Peft4jException("HuggingFace tokenizers returned " + (spans == null ? "no" : spans.length)
                    + " offsets for " + ids.length + " tokens (tokenizer of " + dir + "); expected one span per token");
        }
        // The native library counts Unicode code points; Java strings index UTF-16 chars.
        int[] utf16At = codePointToCharIndex(text);
        int cps = utf16At.length - 1;
        int[] starts = new int[ids.length];
        int[] ends = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            starts[i] = utf16At[Math.clamp(spans[i].getStart(), 0, cps)];
            ends[i] = utf16At[Math.clamp(spans[i].getEnd(), 0, cps)];
        }
        return new Encoded(ids, starts, ends);
    }

    /** utf16At[k] = the Java string index of code point k; utf16At[codePointCount] = text.length(). */
    private static int[] codePointToCharIndex(String text) {
        int[] at = new int[text.codePointCount(0, text.length()) + 1];
        int k = 0;
        for (int i = 0; i < text.length(); i += Character.charCount(text.codePointAt(i))) at[k++] = i;
        at[k] = text.length();
        return at;
    }

    /**
     * Token ids with the character span each came from ({@link #encodeWithOffsets}).
     *
     * @param ids    token ids
     * @param starts start index in the encoded string (inclusive) of each token
     * @param ends   end index (exclusive) of each token
     */
    public record Encoded(int[] ids, int[] starts, int[] ends) {}

    private static int[] toInts(long[] ids) {
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = (int) ids[i];
        return out;
    }

    /** Token ids of text with BOS prepended / EOS appended as the tokenizer config asks ({@link #addsBos()}). */
    public int[] encodeWithSpecial(String text) {
        int[] raw = encode(text);
        int head = addsBos ? 1 : 0;
        int[] out = new int[head + raw.length + (addsEos ? 1 : 0)];
        if (addsBos) out[0] = bosId.getAsInt();
        System.arraycopy(raw, 0, out, head, raw.length);
        if (addsEos) out[out.length - 1] = eosTokenId.getAsInt();
        return out;
    }

    /** Text of ids, skipping special tokens (BOS, EOS, chat markers). */
    public String decode(int[] ids) {
        return decode(ids, true);
    }

    /**
     * Text of ids. Ids the tokenizer does not know (e.g. a model's padded vocabulary rows) are
     * dropped, as HuggingFace does.
     *
     * @param skipSpecial whether special added tokens are left out of the text
     */
    public String decode(int[] ids, boolean skipSpecial) {
        return decode(ids, 0, ids.length, skipSpecial);
    }

    private String decode(int[] ids, int from, int to, boolean skipSpecial) {
        long[] l = new long[to - from];
        for (int i = from; i < to; i++) {
            if (ids[i] < 0) throw new IllegalArgumentException("token id must be >= 0 (got " + ids[i]
                    + " at index " + i + ")");
            l[i - from] = ids[i];
        }
        return hf.decode(l, skipSpecial);
    }

    // ---------------------------------------------------------------- vocabulary and special tokens

    /** Size of the id space: model vocabulary plus added tokens (highest id + 1; HF {@code len(tokenizer)}). */
    public int vocabSize() { return vocab.size(); }

    /** The tokenizer.json this tokenizer runs (as read, or as assembled from vocab.json + merges.txt); a copy. */
    public JsonNode tokenizerJson() { return tree.deepCopy(); }

    /**
     * The raw token string of an id as stored in the vocabulary (e.g. "Ġthe" for byte-level BPE,
     * "▁the" for SentencePiece, "&lt;s&gt;"), like HF {@code convert_ids_to_tokens}.
     *
     * @throws IllegalArgumentException when no token has this id
     */
    public String tokenText(int id) {
        String t = vocab.token(id);
        if (t == null) {
            throw new IllegalArgumentException("no token with id " + id + " (vocabulary size " + vocabSize()
                    + ", tokenizer of " + dir + ")");
        }
        return t;
    }

    /** The id of an exact raw token string (as {@link #tokenText} returns it), if the vocabulary has it. */
    public OptionalInt idOf(String token) {
        Integer id = vocab.id(Objects.requireNonNull(token, "token"));
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** Whether id is a special added token (skipped by {@link #decode(int[])}). */
    public boolean isSpecial(int id) { return vocab.isSpecial(id); }

    /** The beginning-of-sequence id: the tokenizer's bos_token, else the model config's bos_token_id. */
    public OptionalInt bosId() { return bosId; }

    /** Ids that end generation: generation_config.json eos_token_id (int or list) plus the tokenizer's eos_token. */
    public Set<Integer> eosIds() { return eosIds; }

    /**
     * The tokenizer's own end-of-sequence token (tokenizer_config.json eos_token, HF
     * {@code tokenizer.eos_token_id}): what {@link #encodeWithSpecial} appends and what training data
     * appends after a completion. Empty when the tokenizer has none.
     */
    public OptionalInt eosId() { return eosTokenId; }

    /**
     * The padding token (tokenizer_config.json / special_tokens_map.json pad_token, HF
     * {@code tokenizer.pad_token_id}), if the tokenizer defines one and its vocabulary holds it.
     */
    public OptionalInt padId() {
        OptionalInt p = padId;
        if (p == null) {
            p = idOfText(vocab, TokenizerSpec.read(dir).specialToken("pad_token"));
            padId = p;
        }
        return p;
    }

    private volatile OptionalInt padId;   // read lazily from the config files

    /** Whether {@link #encodeWithSpecial} prepends {@link #bosId()}. */
    public boolean addsBos() { return addsBos; }

    /** Whether {@link #encodeWithSpecial} appends the tokenizer's EOS. */
    public boolean addsEos() { return addsEos; }

    /** Which files the tokenizer was built from. */
    public Source source() { return source; }

    @Override
    public String toString() {
        return "Tokenizer[" + dir + ", " + source + ", vocab " + vocabSize() + ", bos " + bosId + ", eos " + eosIds
                + ", addsBos " + addsBos + "]";
    }

    /** Frees the native tokenizer; the instance (and its streams) must not be used afterwards. */
    @Override
    public void close() { hf.close(); }

    // ---------------------------------------------------------------- streaming

    /** A streaming decoder that skips special tokens, for text that starts a sequence (no prompt). */
    public Stream newStream() { return new Stream(new int[0], true); }

    /** A streaming decoder with no prompt; skipSpecial as in {@link #decode(int[], boolean)}. */
    public Stream newStream(boolean skipSpecial) { return new Stream(new int[0], skipSpecial); }

    /**
     * A streaming decoder for the continuation of prompt (skipping special tokens): its pushes and
     * flush add up to {@link #decodeContinuation decodeContinuation(prompt, generated)}, so that
     * decode(prompt) followed by the streamed text is decode(prompt + generated). Needed for
     * SentencePiece-style tokenizers, whose decoder drops the leading space of the first token of
     * a sequence: the first generated token is not the first token of the text.
     */
    public Stream newStream(int[] prompt) { return new Stream(prompt, true); }

    /** As {@link #newStream(int[])}; skipSpecial as in {@link #decode(int[], boolean)}. */
    public Stream newStream(int[] prompt, boolean skipSpecial) { return new Stream(prompt, skipSpecial); }

    /**
     * The text that generated adds after prompt: decode(prompt + generated) with the text of
     * decode(prompt) taken off its front (skipping special tokens). Decoding generated ids alone
     * is wrong for SentencePiece-style tokenizers ("▁time" alone decodes to "time", after a prompt
     * to " time"). When the prompt ends inside a multi-byte character that generated completes,
     * the text starts after the last character both decodes share.
     */
    public String decodeContinuation(int[] prompt, int[] generated) {
        return decodeContinuation(prompt, generated, true);
    }

    /** As {@link #decodeContinuation(int[], int[])}; skipSpecial as in {@link #decode(int[], boolean)}. */
    public String decodeContinuation(int[] prompt, int[] generated, boolean skipSpecial) {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(generated, "generated");
        if (generated.length == 0) return "";
        int[] all = Arrays.copyOf(prompt, prompt.length + generated.length);
        System.arraycopy(generated, 0, all, prompt.length, generated.length);
        return suffixAfter(decode(all, 0, all.length, skipSpecial), decode(all, 0, prompt.length, skipSpecial));
    }

    /** full without its first head.length() chars when head is a prefix, else without their common prefix. */
    private static String suffixAfter(String full, String head) {
        if (full.startsWith(head)) return full.substring(head.length());
        int common = 0;
        int max = Math.min(full.length(), head.length());
        while (common < max && full.charAt(common) == head.charAt(common)) common++;
        if (common > 0 && Character.isHighSurrogate(full.charAt(common - 1))) common--;
        return full.substring(common);
    }

    /**
     * Incremental detokenizer for generation: push ids as they are sampled and print what comes
     * back. The concatenation of all push() results and flush() equals decode(all ids) - or, for a
     * stream made with a prompt, {@link #decodeContinuation decodeContinuation(prompt, pushed ids)}.
     *
     * <p>Each push decodes a short window of recent ids twice - up to the last emitted position and
     * up to the end - and returns the difference, as text-generation-inference's decoder does.
     * Decoding a window (rather than all ids) keeps a step O(window); decoding from a few ids back
     * (rather than only the new id) keeps context-dependent rules right, like SentencePiece's
     * dropped leading space and bytes split across byte-fallback tokens. With a prompt, the first
     * window starts inside the prompt (its last ids, back to at least one that has text), so the
     * first generated token is decoded as the continuation it is. While the window's text ends in
     * U+FFFD (an incomplete UTF-8 sequence), nothing is emitted: the next id may complete the
     * character. flush() emits whatever is held back. Exact for any text without U+FFFD; a run of
     * byte-fallback tokens that is not valid UTF-8 is replaced as a whole by HF's decoder (ASCII
     * bytes included) once it turns invalid, and what was already streamed of it stays. Not
     * thread-safe.
     */
    public final class Stream {
        /** Prompt ids the first window reaches back over (more when those have no text). */
        private static final int PROMPT_CONTEXT = 4;

        private final boolean skipSpecial;
        private final int promptLength;
        private int[] ids;
        private int n;             // ids held: the prompt, then those pushed
        private int prefixStart;   // window start: ids[prefixStart, readEnd) were decoded and emitted
        private int readEnd;
        private final StringBuilder emitted = new StringBuilder();

        private Stream(int[] prompt, boolean skipSpecial) {
            Objects.requireNonNull(prompt, "prompt");
            for (int i = 0; i < prompt.length; i++) {
                if (prompt[i] < 0) throw new IllegalArgumentException("prompt token id must be >= 0 (got "
                        + prompt[i] + " at index " + i + ")");
            }
            this.skipSpecial = skipSpecial;
            this.promptLength = prompt.length;
            this.ids = Arrays.copyOf(prompt, Math.max(64, prompt.length * 2));
            this.n = prompt.length;
            this.readEnd = prompt.length;
            // The window must hold some prompt text: decoding the first generated id after only
            // skipped specials (or nothing) would apply the decoder's start-of-text rules to it.
            // Nor may it start inside a character: HF's ByteFallback decoder replaces a whole run
            // of byte tokens by U+FFFD when the run is not valid UTF-8, so a run cut at the window
            // start would spoil the bytes generated after it. Past a few ids the prompt itself has
            // invalid bytes; then the window is the whole prompt (exact, one long decode).
            int start = Math.max(0, readEnd - PROMPT_CONTEXT);
            for (int steps = 0; start > 0; steps++) {
                String w = decode(ids, start, readEnd, skipSpecial);
                if (!w.isEmpty() && !w.startsWith("\uFFFD")) break;
                start = steps >= 16 ? 0 : start - 1;
            }
            this.prefixStart = start;
        }

        /** Adds one id; returns the newly completed text (possibly empty). */
        public String push(int id) {
            if (id < 0) throw new IllegalArgumentException("token id must be >= 0 (got " + id + ")");
            if (n == ids.length) ids = Arrays.copyOf(ids, n * 2);
            ids[n++] = id;
            String before = decode(ids, prefixStart, readEnd, skipSpecial);
            String after = decode(ids, prefixStart, n, skipSpecial);
            if (after.length() > before.length() && after.startsWith(before) && !after.endsWith("\uFFFD")) {
                String delta = after.substring(before.length());
                prefixStart = readEnd;
                readEnd = n;
                emitted.append(delta);
                return delta;
            }
            return "";
        }

        /** Returns the text still held back (e.g. a trailing incomplete character); call once generation ends. */
        public String flush() {
            if (readEnd == n) return "";
            // The whole decode is the ground truth; the window diff only serves if it ever disagreed.
            String all = suffixAfter(decode(ids, 0, n, skipSpecial), decode(ids, 0, promptLength, skipSpecial));
            String delta;
            if (all.startsWith(emitted.toString())) {
                delta = all.substring(emitted.length());
            } else {
                String before = decode(ids, prefixStart, readEnd, skipSpecial);
                String after = decode(ids, prefixStart, n, skipSpecial);
                delta = after.startsWith(before) ? after.substring(before.length()) : after;
            }
            prefixStart = readEnd;
            readEnd = n;
            emitted.append(delta);
            return delta;
        }

        /** All ids pushed so far (without the prompt). */
        public int[] ids() { return Arrays.copyOfRange(ids, promptLength, n); }
    }

    // ---------------------------------------------------------------- helpers

    private static OptionalInt idOfText(Vocab vocab, Optional<String> text) {
        if (text.isEmpty()) return OptionalInt.empty();
        Integer id = vocab.id(text.get());
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    private static OptionalInt first(List<Integer> ids) {
        return ids.isEmpty() ? OptionalInt.empty() : OptionalInt.of(ids.get(0));
    }

    private static String listing(Path dir) {
        try (java.util.stream.Stream<Path> files = Files.list(dir)) {
            List<String> names = files.map(p -> p.getFileName().toString()).sorted().toList();
            return names.isEmpty() ? "an empty directory" : names.toString();
        } catch (IOException e) {
            return "(unreadable: " + e.getMessage() + ")";
        }
    }

    /**
     * The special tokens a tokenizer.json TemplateProcessing post-processor puts around a single
     * sequence ("single": [SpecialToken, Sequence, SpecialToken]); also looked for inside a
     * post-processor Sequence. Empty when the post-processor adds nothing.
     */
    private record Template(OptionalInt prefix, OptionalInt suffix) {
        static Template of(JsonNode pp) {
            if ("Sequence".equals(pp.path("type").asText())) {
                for (JsonNode p : pp.path("processors")) {
                    Template t = of(p);
                    if (t.prefix.isPresent() || t.suffix.isPresent()) return t;
                }
                return new Template(OptionalInt.empty(), OptionalInt.empty());
            }
            if (!"TemplateProcessing".equals(pp.path("type").asText())) {
                return new Template(OptionalInt.empty(), OptionalInt.empty());
            }
            JsonNode single = pp.path("single");
            OptionalInt prefix = OptionalInt.empty();
            OptionalInt suffix = OptionalInt.empty();
            boolean seenSequence = false;
            for (JsonNode piece : single) {
                if (piece.has("Sequence")) {
                    seenSequence = true;
                } else if (piece.has("SpecialToken")) {
                    OptionalInt id = specialId(pp, piece.path("SpecialToken").path("id").asText());
                    if (!seenSequence && prefix.isEmpty()) prefix = id;
                    else if (seenSequence) suffix = id;
                }
            }
            return new Template(prefix, suffix);
        }

        private static OptionalInt specialId(JsonNode pp, String name) {
            JsonNode ids = pp.path("special_tokens").path(name).path("ids");
            return ids.isArray() && ids.size() == 1 ? OptionalInt.of(ids.get(0).asInt()) : OptionalInt.empty();
        }
    }
}
