package dev.peft4j.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.peft4j.SharedArtefacts;
import dev.peft4j.data.DataConfig;
import dev.peft4j.data.DataLoader;
import dev.peft4j.data.Dataset;
import dev.peft4j.eval.ExactMatch;
import dev.peft4j.model.CausalLM;
import dev.peft4j.tokenizer.Tokenizer;
import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;
import dev.peft4j.tuner.PeftAdapter;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA on the real, trained stories260K learns a task it cannot do: "X went to the P and saw a
 * A. The A said" -> " <sound>!". Held-out prompts use (name, place, animal) combinations absent
 * from training. No EOS is appended: stories260K was trained without one (llama2.c separates
 * stories with BOS), so its </s> embedding is untrained and that target could never be learned.
 */
@Tag("slow")
class Stories260KLearningTest {
    @TempDir Path tmp;

    static final String[] NAMES = {"Lily", "Tom", "Ben", "Sue", "Max", "Anna", "Tim", "Mia", "Sam", "Lucy", "Jack", "Zoe"};
    static final String[] PLACES = {"park", "garden", "farm", "yard", "house", "forest"};
    static final String[] ANIMALS = {"dog", "cat", "cow", "duck", "sheep", "lion", "bird", "pig"};
    static final String[] SOUNDS = {"woof", "meow", "moo", "quack", "baa", "roar", "tweet", "oink"};

    @Test
    void heldOutAccuracyAndLossImprove() throws Exception {
        Path dir = SharedArtefacts.require("models/stories260K");
        List<String[]> all = new ArrayList<>();
        for (String n : NAMES) for (String p : PLACES) for (int a = 0; a < ANIMALS.length; a++)
            all.add(new String[] {n + " went to the " + p + " and saw a " + ANIMALS[a] + ". The " + ANIMALS[a] + " said", " " + SOUNDS[a] + "!"});
        Collections.shuffle(all, new Random(3));
        List<String[]> train = all.subList(0, 400), test = all.subList(400, 480);
        Path trainFile = tmp.resolve("train.jsonl"), testFile = tmp.resolve("test.jsonl");
        write(trainFile, train);
        write(testFile, test);

        CausalLM model = CausalLM.load(dir);
        try (Tokenizer tok = Tokenizer.load(dir)) {
            Dataset ds = Dataset.load(trainFile, tok, dir, DataConfig.builder().addEos(false).validationFile(testFile).build());
            ExactMatch.Result before = ExactMatch.evaluate(model, tok, test, 16);
            LoraModel lora = Lora.apply(model, LoraConfig.builder().r(8).alpha(16).dropout(0f).allLinear().build(), 1);
            TrainConfig cfg = new TrainConfig(80, 0, 3e-3, LrSchedule.Kind.COSINE, 8, 0, 16, 1, 1.0, 0, 42, 10, 0, 0, 0, 0);
            Trainer.Result r = new Trainer(model, lora.trainableParameters(), d -> PeftAdapter.save(lora, d, dir.toString(), null),
                    new DataLoader(ds.train(), 16, true, 42, 0, false), ds.validation(), 0, cfg, tmp.resolve("out"),
                    new PrintStream(new ByteArrayOutputStream())).run(false);
            ExactMatch.Result after = ExactMatch.evaluate(model, tok, test, 16);
            System.out.printf("stories260K animal sounds, 80 held-out prompts: validation loss %.4f -> %.4f, exact match %d/%d -> %d/%d%n",
                    r.initialValLoss(), r.valLoss(), before.correct(), before.total(), after.correct(), after.total());
            assertThat(r.initialValLoss()).isGreaterThan(1.0);
            assertThat(r.valLoss()).isLessThan(0.05);
            assertThat(before.accuracy()).isLessThan(0.1);
            assertThat(after.accuracy()).isGreaterThan(0.95);
        }
    }

    static void write(Path f, List<String[]> pairs) throws Exception {
        com.fasterxml.jackson.databind.ObjectMapper om = new com.fasterxml.jackson.databind.ObjectMapper();
        StringBuilder s = new StringBuilder();
        for (String[] p : pairs) s.append(om.writeValueAsString(java.util.Map.of("prompt", p[0], "completion", p[1]))).append('\n');
        Files.writeString(f, s.toString());
    }
}
