package dev.peft4j.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Small training files the CLI tests share. */
final class CliFixtures {
    private CliFixtures() {}

    /** dir/train.jsonl: 32 prompt/completion pairs "Tom saw a dog. The dog said" -> " woof!" over four animals. */
    static Path animalSounds(Path dir) throws IOException {
        Path f = dir.resolve("train.jsonl");
        StringBuilder s = new StringBuilder();
        String[] animals = {"dog", "cat", "cow", "duck"}, sounds = {"woof", "meow", "moo", "quack"};
        for (int i = 0; i < 32; i++)
            s.append(String.format("{\"prompt\": \"Tom saw a %s. The %s said\", \"completion\": \" %s!\"}%n", animals[i % 4], animals[i % 4], sounds[i % 4]));
        Files.writeString(f, s.toString());
        return f;
    }
}
