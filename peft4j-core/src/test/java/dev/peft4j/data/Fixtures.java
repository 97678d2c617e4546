/*
 * Fixtures: test helpers for dev.peft4j.data - committed fixture files under
 * src/test/resources/data/ and the shared tokenizers (skipping when ../shared is absent).
 */
package dev.peft4j.data;

import dev.peft4j.SharedArtefacts;
import dev.peft4j.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

final class Fixtures {
    private Fixtures() {}

    /** A committed fixture: src/test/resources/data/relative. */
    static Path resource(String relative) {
        URL url = Fixtures.class.getResource("/data/" + relative);
        if (url == null) throw new IllegalStateException("missing test resource data/" + relative);
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static String read(String relative) {
        try {
            return Files.readString(resource(relative), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The tiny stories260K Llama tokenizer (BOS 1, EOS 2, adds BOS, no chat template); skips when absent. */
    static Path stories260K() {
        return SharedArtefacts.require("models/stories260K");
    }

    static Path qwen25() {
        return SharedArtefacts.require("tokenizers/qwen2.5");
    }

    static Path llama3() {
        return SharedArtefacts.require("tokenizers/llama3");
    }

    static Tokenizer tokenizer(Path dir) {
        return Tokenizer.load(dir);
    }
}
