/*
 * HfVectors: reader for the llama.cpp tokenizer oracles in ../shared/tokenizers/hf-vectors.
 * ggml-vocab-NAME.gguf.inp holds the test strings, each followed by "\n__ggml_vocab_test__\n"
 * (the file ends with a separator, so splitting leaves one empty tail that is not a case);
 * ggml-vocab-NAME.gguf.out holds one line per string with the ids HuggingFace
 * AutoTokenizer.encode(text, add_special_tokens=False) produced, each id preceded by a space
 * (an empty line for the empty string).
 */
package dev.peft4j.tokenizer;

import dev.peft4j.SharedArtefacts;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;

record HfVectors(List<String> texts, List<int[]> ids) {
    static final String SEPARATOR = "\n__ggml_vocab_test__\n";

    /** Reads ggml-vocab-NAME.gguf.{inp,out}, skipping the calling test when they are absent. */
    static HfVectors read(String name) {
        Path inp = SharedArtefacts.require("tokenizers/hf-vectors/ggml-vocab-" + name + ".gguf.inp");
        Path out = SharedArtefacts.require("tokenizers/hf-vectors/ggml-vocab-" + name + ".gguf.out");
        try {
            String all = Files.readString(inp, StandardCharsets.UTF_8);
            if (!all.endsWith(SEPARATOR)) throw new IllegalStateException(inp + " does not end with the separator");
            List<String> texts = new ArrayList<>(Arrays.asList(
                    all.substring(0, all.length() - SEPARATOR.length()).split(Pattern.quote(SEPARATOR), -1)));
            List<int[]> ids = new ArrayList<>();
            for (String line : Files.readAllLines(out, StandardCharsets.UTF_8)) {
                String t = line.strip();
                ids.add(t.isEmpty() ? new int[0] : Arrays.stream(t.split(" +")).mapToInt(Integer::parseInt).toArray());
            }
            if (texts.size() != ids.size()) {
                throw new IllegalStateException(inp + " has " + texts.size() + " strings but " + out + " has "
                        + ids.size() + " lines");
            }
            return new HfVectors(List.copyOf(texts), List.copyOf(ids));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
