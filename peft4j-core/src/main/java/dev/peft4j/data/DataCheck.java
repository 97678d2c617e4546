/*
 * DataCheck: looks at a training set (and its validation and test sets) before hours of training go
 * into it, and reports what is wrong with it, naming the 1-based lines of the source files.
 *
 * Checks (WARNING = serious: printed as a warning, fatal under `--strict`; INFO = reported only):
 *   malformed         records that do not have the format's shape (or that the chat template cannot
 *                     render); Dataset.load fails on them unless skipMalformed             WARNING
 *   exact-duplicate   training records identical to an earlier one (every field, character for
 *                     character); count = the copies that could be removed                  WARNING
 *   near-duplicate    training records that are not exact copies but (a) equal after
 *                     normalisation, or (b) have a Jaccard similarity >= 0.9 between the sets of
 *                     their word 5-grams (both after normalisation); count = records beyond the first
 *                     of each group                                                          WARNING
 *   conflicting-target  training records with the same normalised prompt but different
 *                     normalised targets (label noise for classification data)              WARNING
 *   leakage           validation / test records whose prompt is a near duplicate (rules (a), (b))
 *                     of a training record's prompt; the prompt is the text the model is given:
 *                     prompt, instruction + input, the conversation before the last assistant turn,
 *                     the whole text for text records or when the prompt is empty. A test file may
 *                     also be an evaluation file: {"prompt"|"question", ...} (mc, gen, gsm8k) records
 *                     are compared by that field                                            WARNING
 *   empty-target      completion / Alpaca output / a trained assistant turn (or a text record) that
 *                     is empty or only whitespace                                           WARNING
 *   truncated         examples longer than maxLength tokens (cut by training, keeping the start);
 *                     needs a tokenizer; not when packing                                   WARNING
 *   label-imbalance   when the targets are a small set of classes (<= 20 distinct stripped targets,
 *                     each seen at least twice on average): the majority class holds > 80% or a
 *                     class < 5% of the examples                                            WARNING
 *   chat-role, chat-order, chat-empty-content, chat-no-assistant, chat-ends-with-user
 *                     conversations with an unknown role, a system message after the start, two
 *                     user or two assistant turns in a row (or an assistant turn first), an empty
 *                     non-assistant message, no trained assistant turn (no loss: Dataset drops it),
 *                     a last message that is not the assistant's (it takes no loss)         WARNING
 * The token length distribution (min, median, 95th percentile by nearest rank, max) and the label
 * shares are reported as numbers, not findings.
 *
 * Normalisation: Unicode NFKC, lower case, every punctuation, symbol or control character replaced by a space,
 * runs of whitespace collapsed to one space, stripped. Word 5-grams are taken over the normalised
 * words; a text of fewer than 5 words is one shingle (so rule (b) is then rule (a)).
 * Finding the pairs with Jaccard >= 0.9 without comparing every pair: MinHash signatures of 128
 * hash functions banded 16 x 8 (locality-sensitive hashing); pairs that share a band are candidates
 * and are then confirmed with the exact Jaccard similarity, so no pair is reported below 0.9. A pair
 * at exactly 0.9 is missed with probability (1 - 0.9^8)^16 ~ 1e-4 (less above 0.9). At most
 * MAX_CANDIDATES (500) candidates are verified per record, so that templated data, where most pairs
 * are candidates, stays linear; a record whose search stopped there is counted in an INFO note.
 *
 * Constraints: holds the records of all files in memory (as Dataset does); deterministic (fixed hash
 * seeds, file order). The validation split by validationFraction is made exactly as Dataset makes it
 * (Split on the well-formed records), so leakage is checked on the same split training will use.
 * Templated data with a long shared preamble and short distinct parts can be flagged as near
 * duplicates: the rule is on shared text, and such records do share 90% of their 5-grams.
 */
package dev.peft4j.data;

import com.fasterxml.jackson.databind.JsonNode;
import dev.peft4j.Peft4jException;
import dev.peft4j.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

public final class DataCheck {
    private DataCheck() {}

    /** Jaccard similarity of word 5-gram sets at or above which two texts are near duplicates. */
    public static final double NEAR_DUPLICATE_JACCARD = 0.9;
    /** Words per shingle. */
    public static final int SHINGLE_WORDS = 5;
    /** At most this many distinct targets make a label set. */
    public static final int MAX_CLASSES = 20;
    /** Label-imbalance thresholds: majority share above, or any class share below. */
    public static final double MAJORITY_SHARE = 0.8, MINORITY_SHARE = 0.05;
    /**
     * Candidate pairs verified per record at most: templated data (a long fixed text around a short
     * varying part) makes most pairs MinHash candidates; the cap keeps the search linear in the records.
     */
    public static final int MAX_CANDIDATES = 500;
    /** Examples (line groups) kept per finding. */
    public static final int MAX_EXAMPLES = 5;

    static final Set<String> KNOWN_ROLES = Set.of("system", "developer", "user", "assistant", "tool", "function", "ipython");

    /** How serious a finding is: WARNING findings fail a `--strict` run. */
    public enum Severity { WARNING, INFO }

    /** A 1-based line of a source file (the line where the record starts). */
    public record Line(String file, int line) {
        @Override public String toString() { return Path.of(file).getFileName() + ":" + line; }
    }

    /**
     * One finding.
     *
     * @param check    the check's id (see the class comment), e.g. "exact-duplicate"
     * @param severity WARNING or INFO
     * @param count    how many records it concerns (see each check for what is counted)
     * @param of       out of how many records (for the share)
     * @param message  one readable sentence with the count
     * @param examples up to MAX_EXAMPLES groups of lines; a group holds the lines of one case (the copies
     *                 of a duplicate, the leaked record and its training twin, one empty target)
     */
    public record Finding(String check, Severity severity, int count, int of, String message, List<List<Line>> examples) {
        public Finding {
            examples = examples.stream().map(List::copyOf).toList();
        }

        /** "warning: MESSAGE (e.g. train.jsonl:3 = train.jsonl:9; ...)". */
        public String describe() {
            StringBuilder sb = new StringBuilder(severity == Severity.WARNING ? "warning: " : "note: ").append(message);
            if (!examples.isEmpty()) {
                sb.append(" (e.g. ");
                for (int i = 0; i < examples.size(); i++) {
                    if (i > 0) sb.append("; ");
                    List<String> ls = examples.get(i).stream().map(Line::toString).toList();
                    sb.append(String.join(" = ", ls));
                }
                if (count > examples.size()) sb.append("; ...");
                sb.append(')');
            }
            return sb.toString();
        }
    }

    /** A file that was checked: its role (train, validation, test), path, records and format. */
    public record FileInfo(String role, String file, int records, String format) {}

    /** Token lengths of the training examples (before truncation); percentiles by nearest rank. */
    public record Lengths(int n, int min, int median, int p95, int max, double mean, int maxLength, int truncated,
                          int truncatedAllTargets, boolean packing) {
        public double truncatedShare() { return n == 0 ? 0 : (double) truncated / n; }
    }

    /** One class of a label set. */
    public record LabelCount(String label, int count, double share) {}

    /** The targets' classes when they form a small set, most frequent first. */
    public record Balance(int examples, List<LabelCount> classes) {
        public Balance { classes = List.copyOf(classes); }
    }

    /**
     * What the checks found.
     *
     * @param files    the files read
     * @param lengths  token lengths (null without a tokenizer)
     * @param balance  the label set (null when the targets are not a small set of classes)
     * @param findings every finding, warnings first
     */
    public record Report(List<FileInfo> files, Lengths lengths, Balance balance, List<Finding> findings) {
        public Report {
            files = List.copyOf(files);
            findings = List.copyOf(findings);
        }

        public List<Finding> warnings() {
            return findings.stream().filter(f -> f.severity() == Severity.WARNING).toList();
        }

        public boolean hasWarnings() {
            return !warnings().isEmpty();
        }

        /** The finding of a check, if it fired. */
        public java.util.Optional<Finding> finding(String check) {
            return findings.stream().filter(f -> f.check().equals(check)).findFirst();
        }

        /** A few lines for the training log or the terminal. */
        public String summary() {
            StringBuilder sb = new StringBuilder("data check:");
            for (int i = 0; i < files.size(); i++) {
                FileInfo f = files.get(i);
                sb.append(i == 0 ? " " : ", ").append(f.role()).append(' ').append(Path.of(f.file()).getFileName()).append(" (")
                        .append(f.records()).append(" records").append(f.format() == null ? "" : ", " + f.format()).append(')');
            }
            sb.append('\n');
            if (lengths != null) {
                sb.append(String.format(Locale.ROOT, "      tokens per training example: min %d, median %d, p95 %d, max %d (mean %.1f, n %d)",
                        lengths.min(), lengths.median(), lengths.p95(), lengths.max(), lengths.mean(), lengths.n()));
                if (lengths.packing()) sb.append("; packed into rows of ").append(lengths.maxLength()).append(", none truncated");
                else sb.append(String.format(Locale.ROOT, "; %d (%.1f%%) longer than max-length %d", lengths.truncated(),
                        100 * lengths.truncatedShare(), lengths.maxLength()));
                sb.append('\n');
            } else {
                sb.append("      token lengths and truncation not checked (no tokenizer; give --model)\n");
            }
            if (balance != null) {
                sb.append("      labels (").append(balance.classes().size()).append(" classes):");
                for (LabelCount c : balance.classes())
                    sb.append(String.format(Locale.ROOT, " %s %d (%.1f%%)", quote(c.label()), c.count(), 100 * c.share()));
                sb.append('\n');
            }
            if (findings.isEmpty()) sb.append("      no problems found: no duplicates, leakage, empty targets, truncation or format errors\n");
            for (Finding f : findings) sb.append("      ").append(f.describe()).append('\n');
            return sb.toString();
        }
    }

    /**
     * Checks a training file, its validation part (cfg.validationFile(), or the split cfg.validationFraction()
     * makes) and an optional test file.
     *
     * @param train    training data (.jsonl / .json, any format Dataset reads)
     * @param test     test or evaluation data to check for leakage (null: none)
     * @param tok      the model's tokenizer for lengths and truncation (null: not checked)
     * @param modelDir where the chat template is (for messages records with a tokenizer; may be null)
     * @param cfg      the data settings training uses (format, maxLength, packing, columns, template...)
     */
    public static Report run(Path train, Path test, Tokenizer tok, Path modelDir, DataConfig cfg) {
        Objects.requireNonNull(train, "train");
        Objects.requireNonNull(cfg, "cfg");
        List<Finding> findings = new ArrayList<>();
        List<FileInfo> files = new ArrayList<>();
        Malformed malformed = new Malformed();

        Parsed trainParsed = parse(train, cfg, false, malformed);
        List<Rec> trainRecs = trainParsed.recs();
        List<Rec> valRecs = List.of();
        String valRole = "validation";
        if (cfg.validationFile() != null) {
            Parsed v = parse(cfg.validationFile(), cfg, false, malformed);
            valRecs = v.recs();
            files.add(new FileInfo("train", train.toString(), trainParsed.records(), name(trainParsed.format())));
            files.add(new FileInfo("validation", cfg.validationFile().toString(), v.records(), name(v.format())));
        } else {
            files.add(new FileInfo("train", train.toString(), trainParsed.records(), name(trainParsed.format())));
            if (cfg.validationFraction() > 0 && !trainRecs.isEmpty()) {
                Split.Parts<Rec> parts = Split.split(trainRecs, cfg.validationFraction(), cfg.seed());
                trainRecs = parts.train();
                valRecs = parts.validation();
                valRole = "validation split";
            }
        }
        List<Rec> testRecs = List.of();
        if (test != null) {
            Parsed t = parse(test, cfg, true, malformed);
            testRecs = t.recs();
            files.add(new FileInfo("test", test.toString(), t.records(), t.format() == null ? "prompts" : name(t.format())));
        }
        int totalRecords = files.stream().mapToInt(FileInfo::records).sum();

        duplicates(trainRecs, findings);
        conflicts(trainRecs, findings);
        leakage(trainRecs, valRecs, valRole, findings);
        leakage(trainRecs, testRecs, "test", findings);
        List<Rec> trained = new ArrayList<>(trainRecs);
        trained.addAll(valRecs);
        emptyTargets(trained, findings);
        chat(trained, findings);
        Balance balance = balance(trainRecs, findings);
        Lengths lengths = tok == null ? null : lengths(trainRecs, tok, modelDir, cfg, findings, malformed);
        if (malformed.count > 0) {
            findings.addFirst(new Finding("malformed", Severity.WARNING, malformed.count, totalRecords,
                    malformed.count + " malformed record" + s(malformed.count) + " (training fails on them unless --skip-malformed; first: "
                            + malformed.first + ")", malformed.lines));
        }
        List<Finding> sorted = new ArrayList<>(findings);
        sorted.sort((a, b) -> a.severity().compareTo(b.severity()));
        return new Report(files, lengths, balance, sorted);
    }

    // ------------------------------------------------------------------ records

    /**
     * A record reduced to what the checks compare.
     *
     * @param sample  the parsed training record (null for a prompt-only evaluation record)
     * @param at      where it starts
     * @param full    every field joined (exact duplicates)
     * @param prompt  what the model is given ("" for text records)
     * @param target  the label: completion, output, last assistant turn, the text ("" when none)
     */
    private record Rec(Sample sample, Line at, String full, String prompt, String target) {
        /** The text compared for leakage: the prompt, or the whole record when the prompt is empty. */
        String leakText() {
            return prompt.isBlank() ? full : prompt;
        }
    }

    private record Parsed(List<Rec> recs, int records, DataFormat format) {}

    /** Malformed records across files: count, first reason, up to MAX_EXAMPLES lines. */
    private static final class Malformed {
        int count;
        String first;
        final List<List<Line>> lines = new ArrayList<>();

        void add(Line at, String reason) {
            if (count++ == 0) first = at + ": " + reason;
            if (lines.size() < MAX_EXAMPLES) lines.add(List.of(at));
        }
    }

    private static Parsed parse(Path file, DataConfig cfg, boolean promptOnlyAllowed, Malformed malformed) {
        List<JsonRecords.Raw> raws = JsonRecords.read(file, cfg.limit());
        DataFormat format = cfg.format() == DataFormat.AUTO ? null : cfg.format();
        List<Rec> out = new ArrayList<>(raws.size());
        for (JsonRecords.Raw raw : raws) {
            Line at = new Line(file.toString(), raw.location().line());
            if (raw.node() == null) {
                malformed.add(at, raw.parseError());
                continue;
            }
            JsonNode node = Sample.rename(raw.node(), cfg.columns());
            try {
                if (format == null) format = Sample.formatOf(node, DataFormat.AUTO);
                out.add(rec(Sample.parse(node, format, raw.location()), at));
            } catch (Sample.Malformed m) {
                String prompt = promptOnlyAllowed ? evalPrompt(node) : null;
                if (prompt != null) out.add(new Rec(null, at, prompt, prompt, ""));
                else malformed.add(at, m.getMessage());
            }
        }
        return new Parsed(out, raws.size(), format);
    }

    /** The prompt of an evaluation record ({"prompt"} of mc/gen, {"question"} of gsm8k), or null. */
    private static String evalPrompt(JsonNode node) {
        if (!node.isObject()) return null;
        for (String k : List.of("prompt", "question", "text")) {
            JsonNode v = node.get(k);
            if (v != null && v.isTextual()) return v.asText();
        }
        return null;
    }

    private static Rec rec(Sample s, Line at) {
        return switch (s) {
            case Sample.Text t -> new Rec(s, at, t.text(), "", t.text());
            case Sample.PromptCompletion pc -> new Rec(s, at, pc.prompt() + '\u0000' + pc.completion(), pc.prompt(), pc.completion());
            case Sample.Alpaca a -> {
                String prompt = a.instruction() + (a.input().isEmpty() ? "" : "\n" + a.input());
                yield new Rec(s, at, a.instruction() + '\u0000' + a.input() + '\u0000' + a.output(), prompt, a.output());
            }
            case Sample.Chat c -> {
                int last = -1;
                for (int i = c.messages().size() - 1; i >= Math.max(0, c.firstTrainable()); i--)
                    if ("assistant".equals(c.messages().get(i).get("role"))) { last = i; break; }
                StringBuilder full = new StringBuilder(), prompt = new StringBuilder();
                for (int i = 0; i < c.messages().size(); i++) {
                    String turn = c.messages().get(i).get("role") + ": " + content(c.messages().get(i)) + '\u0000';
                    full.append(turn);
                    if (last < 0 || i < last) prompt.append(turn);
                }
                yield new Rec(s, at, full.toString(), prompt.toString(), last < 0 ? "" : content(c.messages().get(last)));
            }
        };
    }

    private static String content(Map<String, Object> message) {
        Object c = message.get("content");
        return c instanceof String str ? str : "";
    }

    // ------------------------------------------------------------------ duplicates and leakage

    private static final Pattern PUNCTUATION = Pattern.compile("[\\p{P}\\p{S}\\p{Cc}]");
    private static final Pattern SPACES = Pattern.compile("\\s+");

    /** NFKC, lower case, punctuation and symbols to spaces, whitespace collapsed, stripped. */
    public static String normalize(String text) {
        String t = Normalizer.normalize(text, Normalizer.Form.NFKC).toLowerCase(Locale.ROOT);
        t = PUNCTUATION.matcher(t).replaceAll(" ");
        return SPACES.matcher(t).replaceAll(" ").strip();
    }

    /** Hashes of the word 5-grams of a normalised text (one shingle when it has fewer than 5 words). */
    static long[] shingles(String normalized) {
        String[] w = normalized.isEmpty() ? new String[0] : normalized.split(" ");
        Set<Long> out = new HashSet<>();
        if (w.length < SHINGLE_WORDS) {
            out.add(hash(normalized));
        } else {
            for (int i = 0; i + SHINGLE_WORDS <= w.length; i++)
                out.add(hash(String.join(" ", Arrays.copyOfRange(w, i, i + SHINGLE_WORDS))));
        }
        long[] a = out.stream().mapToLong(Long::longValue).toArray();
        Arrays.sort(a);
        return a;
    }

    /** |a ∩ b| / |a ∪ b| of two sorted hash sets. */
    static double jaccard(long[] a, long[] b) {
        int i = 0, j = 0, common = 0;
        while (i < a.length && j < b.length) {
            if (a[i] == b[j]) { common++; i++; j++; }
            else if (a[i] < b[j]) i++;
            else j++;
        }
        int union = a.length + b.length - common;
        return union == 0 ? 1 : (double) common / union;
    }

    /** FNV-1a over the UTF-16 chars, then SplitMix64's finaliser. */
    private static long hash(String s) {
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < s.length(); i++) { h ^= s.charAt(i); h *= 0x100000001b3L; }
        return mix(h);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    static final int BANDS = 16, ROWS = 8;
    private static final long[] SEEDS = new long[BANDS * ROWS];
    static {
        SplitMix64 r = new SplitMix64(0x6D696E68617368L);   // fixed: signatures are the same on every run
        for (int i = 0; i < SEEDS.length; i++) SEEDS[i] = r.next();
    }

    /** The 16 band keys of a shingle set's MinHash signature (each band folds 8 minima into one key). */
    static long[] bandKeys(long[] shingles) {
        long[] keys = new long[BANDS];
        for (int b = 0; b < BANDS; b++) {
            long key = b;
            for (int r = 0; r < ROWS; r++) {
                long seed = SEEDS[b * ROWS + r], min = Long.MAX_VALUE;
                for (long x : shingles) min = Math.min(min, mix(x ^ seed));
                key = mix(key * 31 + min);
            }
            keys[b] = key;
        }
        return keys;
    }

    /** Texts indexed for near-duplicate search: normalised form, shingles, band buckets. */
    private static final class NearIndex {
        final List<String> norm = new ArrayList<>();
        final List<long[]> shingles = new ArrayList<>();
        final Map<String, Integer> byNorm = new HashMap<>();
        final List<Map<Long, List<Integer>>> buckets = new ArrayList<>();
        /** Queries that stopped after MAX_CANDIDATES verifications. */
        int capped;

        NearIndex() {
            for (int b = 0; b < BANDS; b++) buckets.add(new HashMap<>());
        }

        /** Adds a normalised text (once); returns its id. */
        int add(String normalized) {
            Integer id = byNorm.get(normalized);
            if (id != null) return id;
            id = norm.size();
            norm.add(normalized);
            long[] sh = shingles(normalized);
            shingles.add(sh);
            byNorm.put(normalized, id);
            long[] keys = bandKeys(sh);
            for (int b = 0; b < BANDS; b++) buckets.get(b).computeIfAbsent(keys[b], k -> new ArrayList<>()).add(id);
            return id;
        }

        /** Ids of indexed texts that are near duplicates of the normalised text (equal, or Jaccard >= 0.9). */
        List<Integer> near(String normalized) {
            Integer same = byNorm.get(normalized);
            if (same != null) return List.of(same);
            long[] sh = shingles(normalized);
            long[] keys = bandKeys(sh);
            Set<Integer> seen = new HashSet<>();
            List<Integer> out = new ArrayList<>();
            search:
            for (int b = 0; b < BANDS; b++) {
                for (int id : buckets.get(b).getOrDefault(keys[b], List.of())) {
                    if (!seen.add(id)) continue;
                    if (seen.size() > MAX_CANDIDATES) {
                        capped++;
                        break search;
                    }
                    if (jaccard(sh, shingles.get(id)) >= NEAR_DUPLICATE_JACCARD) out.add(id);
                }
            }
            out.sort(null);
            return out;
        }
    }

    private static void duplicates(List<Rec> recs, List<Finding> findings) {
        // exact: group by the full text, in file order
        Map<String, List<Rec>> exact = new LinkedHashMap<>();
        for (Rec r : recs) exact.computeIfAbsent(r.full(), k -> new ArrayList<>()).add(r);
        int copies = 0;
        List<List<Line>> examples = new ArrayList<>();
        for (List<Rec> g : exact.values()) {
            if (g.size() < 2) continue;
            copies += g.size() - 1;
            if (examples.size() < MAX_EXAMPLES) examples.add(lines(g));
        }
        if (copies > 0) {
            findings.add(new Finding("exact-duplicate", Severity.WARNING, copies, recs.size(), copies + " exact duplicate"
                    + s(copies) + " in the training set (" + pct(copies, recs.size()) + " of " + recs.size()
                    + " records repeat an earlier one)", examples));
        }

        // near: over one representative per exact group; union-find over confirmed pairs
        List<List<Rec>> groups = new ArrayList<>(exact.values());
        int n = groups.size();
        int[] parent = new int[n];
        Arrays.setAll(parent, i -> i);
        NearIndex index = new NearIndex();
        Map<Integer, Integer> firstGroupOfText = new HashMap<>();
        for (int g = 0; g < n; g++) {
            String norm = normalize(groups.get(g).getFirst().full());
            for (int id : index.near(norm)) union(parent, firstGroupOfText.get(id), g);
            int id = index.add(norm);
            firstGroupOfText.putIfAbsent(id, g);
        }
        Map<Integer, List<Integer>> clusters = new LinkedHashMap<>();
        for (int g = 0; g < n; g++) clusters.computeIfAbsent(find(parent, g), k -> new ArrayList<>()).add(g);
        int near = 0;
        examples = new ArrayList<>();
        for (List<Integer> c : clusters.values()) {
            if (c.size() < 2) continue;
            near += c.size() - 1;   // exact copies are counted above; here the distinct variants beyond the first
            if (examples.size() < MAX_EXAMPLES) {
                List<Line> ls = new ArrayList<>();
                for (int g : c) if (ls.size() < MAX_EXAMPLES) ls.add(groups.get(g).getFirst().at());
                examples.add(ls);
            }
        }
        capped(index, "training records", findings);
        if (near > 0) {
            findings.add(new Finding("near-duplicate", Severity.WARNING, near, recs.size(), near + " near duplicate" + s(near)
                    + " in the training set (records that differ from an earlier one only in case, spacing or punctuation, "
                    + "or share >= 90% of their word 5-grams)", examples));
        }
    }

    private static void conflicts(List<Rec> recs, List<Finding> findings) {
        Map<String, List<Rec>> byPrompt = new LinkedHashMap<>();
        for (Rec r : recs) {
            if (r.sample() instanceof Sample.Text || r.prompt().isBlank()) continue;
            byPrompt.computeIfAbsent(normalize(r.prompt()), k -> new ArrayList<>()).add(r);
        }
        int count = 0;
        List<List<Line>> examples = new ArrayList<>();
        for (List<Rec> g : byPrompt.values()) {
            Set<String> targets = new HashSet<>();
            for (Rec r : g) targets.add(normalize(r.target()));
            if (targets.size() < 2) continue;
            count += g.size();
            if (examples.size() < MAX_EXAMPLES) examples.add(lines(g));
        }
        if (count > 0) {
            findings.add(new Finding("conflicting-target", Severity.WARNING, count, recs.size(), count + " training record"
                    + s(count) + " share a prompt with another record but not its target (the same input taught two answers)",
                    examples));
        }
    }

    private static void leakage(List<Rec> train, List<Rec> other, String role, List<Finding> findings) {
        if (other.isEmpty() || train.isEmpty()) return;
        NearIndex index = new NearIndex();
        Map<Integer, Rec> firstOfText = new HashMap<>();
        for (Rec r : train) firstOfText.putIfAbsent(index.add(normalize(r.leakText())), r);
        int count = 0;
        List<List<Line>> examples = new ArrayList<>();
        for (Rec r : other) {
            List<Integer> hits = index.near(normalize(r.leakText()));
            if (hits.isEmpty()) continue;
            count++;
            if (examples.size() < MAX_EXAMPLES) examples.add(List.of(r.at(), firstOfText.get(hits.getFirst()).at()));
        }
        capped(index, role + " records", findings);
        if (count > 0) {
            findings.add(new Finding("leakage", Severity.WARNING, count, other.size(), count + " of " + other.size() + " " + role
                    + " record" + s(other.size()) + " (" + pct(count, other.size()) + ") have a training twin (the same or a near-duplicate "
                    + "prompt): scores on them measure memory, not generalisation", examples));
        }
    }

    /** A note when the near-duplicate search stopped early for some records (see MAX_CANDIDATES). */
    private static void capped(NearIndex index, String what, List<Finding> findings) {
        if (index.capped == 0) return;
        findings.add(new Finding("near-duplicate-search-capped", Severity.INFO, index.capped, 0, "the near-duplicate search "
                + "verified at most " + MAX_CANDIDATES + " candidates for " + index.capped + " " + what + " (templated data: "
                + "many records share most of their word 5-grams); near duplicates among them may be missed", List.of()));
    }

    private static int find(int[] p, int i) {
        while (p[i] != i) { p[i] = p[p[i]]; i = p[i]; }
        return i;
    }

    private static void union(int[] p, int a, int b) {
        int ra = find(p, a), rb = find(p, b);
        if (ra != rb) p[Math.max(ra, rb)] = Math.min(ra, rb);
    }

    // ------------------------------------------------------------------ targets, chats, labels

    private static void emptyTargets(List<Rec> recs, List<Finding> findings) {
        int count = 0;
        List<List<Line>> examples = new ArrayList<>();
        for (Rec r : recs) {
            boolean empty = switch (r.sample()) {
                case Sample.Text t -> t.text().isBlank();
                case Sample.PromptCompletion pc -> pc.completion().isBlank();
                case Sample.Alpaca a -> a.output().isBlank();
                case Sample.Chat c -> {
                    boolean any = false;
                    for (int i = Math.max(0, c.firstTrainable()); i < c.messages().size(); i++) {
                        Map<String, Object> m = c.messages().get(i);
                        if ("assistant".equals(m.get("role")) && !m.containsKey("tool_calls") && content(m).isBlank()) any = true;
                    }
                    yield any;
                }
                case null -> false;
            };
            if (!empty) continue;
            count++;
            if (examples.size() < MAX_EXAMPLES) examples.add(List.of(r.at()));
        }
        if (count > 0) {
            findings.add(new Finding("empty-target", Severity.WARNING, count, recs.size(), count + " record" + s(count)
                    + " with an empty or whitespace-only target (completion, output, assistant turn or text): the model learns to say nothing",
                    examples));
        }
    }

    private static void chat(List<Rec> recs, List<Finding> findings) {
        Map<String, List<List<Line>>> examples = new LinkedHashMap<>();
        Map<String, Integer> counts = new LinkedHashMap<>();
        Map<String, String> firstDetail = new HashMap<>();
        for (Rec r : recs) {
            if (!(r.sample() instanceof Sample.Chat c)) continue;
            List<Map<String, Object>> ms = c.messages();
            Map<String, String> problems = new LinkedHashMap<>();
            String prev = null;
            boolean trainedAssistant = false, seenUser = false;
            for (int i = 0; i < ms.size(); i++) {
                String role = String.valueOf(ms.get(i).get("role"));
                if (!KNOWN_ROLES.contains(role))
                    problems.putIfAbsent("chat-role", "message [" + i + "] has role \"" + role + "\"");
                if ((role.equals("system") || role.equals("developer")) && i > 0)
                    problems.putIfAbsent("chat-order", "a " + role + " message at [" + i + "], not first");
                if (role.equals("assistant") && !seenUser)
                    problems.putIfAbsent("chat-order", "the conversation starts with the assistant at [" + i + "]");
                if (prev != null && role.equals(prev) && (role.equals("user") || role.equals("assistant")))
                    problems.putIfAbsent("chat-order", "two " + role + " messages in a row at [" + (i - 1) + "] and [" + i + "]");
                if (!role.equals("assistant") && !ms.get(i).containsKey("tool_calls") && content(ms.get(i)).isBlank())
                    problems.putIfAbsent("chat-empty-content", "message [" + i + "] (" + role + ") is empty");
                if (role.equals("assistant") && i >= c.firstTrainable()) trainedAssistant = true;
                if (!role.equals("assistant") && !role.equals("system") && !role.equals("developer")) seenUser = true;
                prev = role;
            }
            if (!trainedAssistant) problems.put("chat-no-assistant", "no assistant message to train on");
            else if (!"assistant".equals(ms.getLast().get("role")) && !"tool".equals(ms.getLast().get("role")))
                problems.put("chat-ends-with-user", "the last message is from " + ms.getLast().get("role"));
            for (Map.Entry<String, String> p : problems.entrySet()) {
                counts.merge(p.getKey(), 1, Integer::sum);
                firstDetail.putIfAbsent(p.getKey(), r.at() + ": " + p.getValue());
                List<List<Line>> ex = examples.computeIfAbsent(p.getKey(), k -> new ArrayList<>());
                if (ex.size() < MAX_EXAMPLES) ex.add(List.of(r.at()));
            }
        }
        long chats = recs.stream().filter(r -> r.sample() instanceof Sample.Chat).count();
        for (Map.Entry<String, Integer> e : counts.entrySet()) {
            int n = e.getValue();
            String what = switch (e.getKey()) {
                case "chat-role" -> "an unknown role (expected system, user, assistant or tool)";
                case "chat-order" -> "turns out of order (system first, then user and assistant alternating)";
                case "chat-empty-content" -> "an empty system/user message";
                case "chat-no-assistant" -> "no assistant turn to train on (dropped by training: no loss)";
                default -> "a last message that is not the assistant's (it takes no loss)";
            };
            findings.add(new Finding(e.getKey(), Severity.WARNING, n, (int) chats, n + " conversation" + s(n) + " with " + what
                    + "; first: " + firstDetail.get(e.getKey()), examples.get(e.getKey())));
        }
    }

    private static Balance balance(List<Rec> recs, List<Finding> findings) {
        List<Rec> labelled = recs.stream().filter(r -> r.sample() != null && !(r.sample() instanceof Sample.Text)).toList();
        if (labelled.size() < 2 || labelled.size() != recs.size()) return null;
        Map<String, Integer> counts = new LinkedHashMap<>();
        for (Rec r : labelled) counts.merge(r.target().strip(), 1, Integer::sum);
        int n = labelled.size();
        if (counts.size() > MAX_CLASSES || counts.size() * 2 > n) return null;
        List<LabelCount> classes = new ArrayList<>();
        counts.forEach((label, c) -> classes.add(new LabelCount(label, c, (double) c / n)));
        classes.sort((a, b) -> b.count() != a.count() ? Integer.compare(b.count(), a.count()) : a.label().compareTo(b.label()));
        Balance bal = new Balance(n, classes);
        LabelCount top = classes.getFirst();
        List<LabelCount> rare = classes.stream().filter(c -> c.share() < MINORITY_SHARE).toList();
        if (classes.size() > 1 && (top.share() > MAJORITY_SHARE || !rare.isEmpty())) {
            StringBuilder msg = new StringBuilder("imbalanced labels over " + n + " examples: ");
            if (top.share() > MAJORITY_SHARE)
                msg.append(String.format(Locale.ROOT, "%s is %.1f%% (> %.0f%%: always answering it scores that much)", quote(top.label()),
                        100 * top.share(), 100 * MAJORITY_SHARE));
            if (!rare.isEmpty()) {
                if (top.share() > MAJORITY_SHARE) msg.append("; ");
                msg.append(String.format(Locale.ROOT, "%d class%s under %.0f%%:", rare.size(), rare.size() == 1 ? "" : "es", 100 * MINORITY_SHARE));
                for (LabelCount c : rare) msg.append(String.format(Locale.ROOT, " %s %d (%.1f%%)", quote(c.label()), c.count(), 100 * c.share()));
            }
            findings.add(new Finding("label-imbalance", Severity.WARNING, top.share() > MAJORITY_SHARE ? top.count()
                    : rare.stream().mapToInt(LabelCount::count).sum(), n, msg.toString(), List.of()));
        }
        return bal;
    }

    private static Lengths lengths(List<Rec> recs, Tokenizer tok, Path modelDir, DataConfig cfg, List<Finding> findings,
                                   Malformed malformed) {
        ExampleEncoder enc = new ExampleEncoder(tok, cfg, modelDir);
        List<Integer> lens = new ArrayList<>();
        int truncated = 0, allTargets = 0;
        List<List<Line>> examples = new ArrayList<>();
        for (Rec r : recs) {
            if (r.sample() == null) continue;
            Example e;
            try {
                e = enc.encode(r.sample());
            } catch (Sample.Malformed m) {
                malformed.add(r.at(), m.getMessage());
                continue;
            }
            lens.add(e.length());
            if (cfg.packing() || e.length() <= cfg.maxLength()) continue;
            truncated++;
            if (e.lossTokens() > 0 && e.truncate(cfg.maxLength()).lossTokens() == 0) allTargets++;
            if (examples.size() < MAX_EXAMPLES) examples.add(List.of(r.at()));
        }
        if (lens.isEmpty()) return null;
        int[] a = lens.stream().mapToInt(Integer::intValue).sorted().toArray();
        double mean = Arrays.stream(a).average().orElse(0);
        Lengths l = new Lengths(a.length, a[0], rank(a, 0.5), rank(a, 0.95), a[a.length - 1], mean, cfg.maxLength(), truncated,
                allTargets, cfg.packing());
        if (truncated > 0) {
            findings.add(new Finding("truncated", Severity.WARNING, truncated, a.length, String.format(Locale.ROOT,
                    "%d of %d training examples (%.1f%%) are longer than max-length %d tokens (longest %d) and will be cut%s",
                    truncated, a.length, 100.0 * truncated / a.length, cfg.maxLength(), l.max(),
                    allTargets == 0 ? "" : "; " + allTargets + " of them lose their whole target (dropped: no loss)"), examples));
        }
        return l;
    }

    /** The nearest-rank percentile of sorted values: the value at 1-based rank ceil(p * n). */
    static int rank(int[] sorted, double p) {
        int k = (int) Math.ceil(p * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, k - 1))];
    }

    private static List<Line> lines(List<Rec> g) {
        List<Line> out = new ArrayList<>();
        for (Rec r : g) if (out.size() < MAX_EXAMPLES) out.add(r.at());
        return out;
    }

    private static String name(DataFormat f) {
        return f == null ? null : f.name().toLowerCase(Locale.ROOT);
    }

    private static String s(int n) {
        return n == 1 ? "" : "s";
    }

    private static String pct(int k, int n) {
        return String.format(Locale.ROOT, "%.1f%%", n == 0 ? 0.0 : 100.0 * k / n);
    }

    private static String quote(String label) {
        String l = label.length() > 30 ? label.substring(0, 27) + "..." : label;
        return "\"" + l.replace("\n", "\\n") + "\"";
    }

    /** Throws when the report has warnings: what --strict does. */
    public static void failOnWarnings(Report r) {
        if (!r.hasWarnings()) return;
        List<Finding> w = r.warnings();
        throw new Peft4jException("--strict: the data check found " + w.size() + " problem" + s(w.size()) + " ("
                + String.join(", ", w.stream().map(f -> f.check() + " " + f.count()).toList())
                + "); nothing was trained or written. Fix the data, or leave out --strict to train anyway");
    }
}
