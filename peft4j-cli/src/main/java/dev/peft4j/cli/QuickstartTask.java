/*
 * QuickstartTask: the quickstart's synthetic task and the tiny word-level world it lives in.
 *
 * Task ("animal sounds"): "Mia went to the farm and saw a cow. The cow said" -> " moo!". Ten
 * animals, each with its sound; names and places vary, and the test prompts use (name, place,
 * animal) combinations never seen in training, so passing means the adapter learned the mapping,
 * not the sentences. The base model is pretrained on the stories first, where animals mostly "said
 * nothing" (see pretrainingTexts): it knows the sounds but does not give them.
 *
 * The tokenizer is word-level (one token per word or punctuation mark), written as a real
 * tokenizer.json that DJL/HF tokenizers load like any other.
 */
package dev.peft4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

final class QuickstartTask {
    static final String[] NAMES = {"Lily", "Tom", "Ben", "Sue", "Max", "Anna", "Tim", "Mia", "Sam", "Lucy", "Jack", "Zoe",
            "Bob", "Kim", "Dan", "Amy"};
    static final String[] PLACES = {"park", "garden", "farm", "yard", "house", "forest", "school", "shop"};
    static final String[] ANIMALS = {"dog", "cat", "cow", "duck", "sheep", "lion", "bird", "pig", "frog", "owl"};
    static final String[] SOUNDS = {"woof", "meow", "moo", "quack", "baa", "roar", "tweet", "oink", "ribbit", "hoot"};
    static final String[] WORDS = {"went", "to", "the", "and", "saw", "a", "The", "said", ".", "!", "nothing"};
    static final String[] SPECIALS = {"<pad>", "<s>", "</s>", "<unk>"};

    record Item(String prompt, String completion) {}

    static String prompt(String name, String place, String animal) {
        return name + " went to the " + place + " and saw a " + animal + ". The " + animal + " said";
    }

    /** Train and test items over disjoint (name, place, animal) combinations; every animal appears in both. */
    static List<List<Item>> splits(int nTrain, int nTest, long seed) {
        List<int[]> combos = new ArrayList<>();
        for (int n = 0; n < NAMES.length; n++)
            for (int p = 0; p < PLACES.length; p++)
                for (int a = 0; a < ANIMALS.length; a++) combos.add(new int[] {n, p, a});
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = combos.size() - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int[] t = combos.get(i);
            combos.set(i, combos.get(j));
            combos.set(j, t);
        }
        List<Item> train = new ArrayList<>(), test = new ArrayList<>();
        for (int i = 0; i < nTrain + nTest; i++) {
            int[] c = combos.get(i);
            Item it = new Item(prompt(NAMES[c[0]], PLACES[c[1]], ANIMALS[c[2]]), " " + SOUNDS[c[2]] + "!");
            (i < nTrain ? train : test).add(it);
        }
        return List.of(train, test);
    }

    /** Share of the pretraining stories in which the animal makes its sound (otherwise it "said nothing"). */
    static final double SOUND_SHARE = 0.3;

    /**
     * What the base model is pretrained on: every farm story, where the animal mostly "said nothing ." and
     * sometimes makes its sound ("The cow said moo !"). The base so knows each animal's sound but answers
     * "nothing" (its most likely continuation); the task wants the sound every time — a behaviour the model
     * already has and an adapter, even a prompt adapter on the frozen model, can make the rule.
     */
    static List<String> pretrainingTexts(long seed) {
        SplittableRandom rng = new SplittableRandom(seed ^ 0x5EEDL);
        List<String> out = new ArrayList<>();
        for (String n : NAMES) for (String p : PLACES) for (int a = 0; a < ANIMALS.length; a++)
            out.add(n + " went to the " + p + " and saw a " + ANIMALS[a] + ". The " + ANIMALS[a] + " said"
                    + (rng.nextDouble() < SOUND_SHARE ? " " + SOUNDS[a] + "!" : " nothing."));
        return out;
    }

    static void writeJsonl(Path file, List<Item> items) throws IOException {
        ObjectMapper om = new ObjectMapper();
        StringBuilder s = new StringBuilder();
        for (Item it : items) s.append(om.writeValueAsString(Map.of("prompt", it.prompt(), "completion", it.completion()))).append('\n');
        Files.createDirectories(file.getParent());
        Files.writeString(file, s.toString());
    }

    static int vocabSize() { return vocab().size(); }

    static Map<String, Integer> vocab() {
        LinkedHashSet<String> words = new LinkedHashSet<>(List.of(SPECIALS));
        for (String[] group : new String[][] {WORDS, NAMES, PLACES, ANIMALS, SOUNDS}) words.addAll(List.of(group));
        Map<String, Integer> v = new LinkedHashMap<>();
        for (String w : words) v.put(w, v.size());
        return v;
    }

    /** tokenizer.json (WordLevel, whitespace + punctuation split, WordPiece decoder that closes up punctuation). */
    static void writeTokenizer(Path dir) throws IOException {
        ObjectMapper om = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        List<Map<String, Object>> added = new ArrayList<>();
        for (int i = 0; i < SPECIALS.length; i++) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("id", i);
            t.put("content", SPECIALS[i]);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
            added.add(t);
        }
        Map<String, Object> tok = new LinkedHashMap<>();
        tok.put("version", "1.0");
        tok.put("truncation", null);
        tok.put("padding", null);
        tok.put("added_tokens", added);
        tok.put("normalizer", null);
        tok.put("pre_tokenizer", Map.of("type", "Sequence", "pretokenizers", List.of(
                Map.of("type", "WhitespaceSplit"), Map.of("type", "Punctuation", "behavior", "Isolated"))));
        tok.put("post_processor", null);
        tok.put("decoder", Map.of("type", "WordPiece", "prefix", "##", "cleanup", true));
        tok.put("model", Map.of("type", "WordLevel", "vocab", vocab(), "unk_token", "<unk>"));
        om.writeValue(dir.resolve("tokenizer.json").toFile(), tok);
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("tokenizer_class", "PreTrainedTokenizerFast");
        cfg.put("bos_token", "<s>");
        cfg.put("eos_token", "</s>");
        cfg.put("pad_token", "<pad>");
        cfg.put("unk_token", "<unk>");
        cfg.put("add_bos_token", true);
        cfg.put("add_eos_token", false);
        om.writeValue(dir.resolve("tokenizer_config.json").toFile(), cfg);
        om.writeValue(dir.resolve("generation_config.json").toFile(), Map.of("bos_token_id", 1, "eos_token_id", 2));
    }
}
