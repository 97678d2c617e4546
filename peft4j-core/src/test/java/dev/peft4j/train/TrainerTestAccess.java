package dev.peft4j.train;

import dev.peft4j.data.Example;
import java.util.List;

/** TrainerTest's synthetic examples for tests in other packages. */
public final class TrainerTestAccess {
    private TrainerTestAccess() {}

    public static List<Example> examples(int n, int vocab, long seed) { return TrainerTest.examples(n, vocab, seed); }
}
