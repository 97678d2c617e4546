/*
 * SeedCorpusTest: the committed seed corpora are what they claim — every seed (a file not named
 * crash-*) is a VALID input that its parser accepts end to end, so that fuzzing starts from deep
 * inside each parser and the regression run exercises the success path too; and every target
 * directory holds at least one seed. Reproducers of past findings (crash-*) are checked by the
 * @FuzzTest methods themselves (they must give a typed error or be accepted).
 */
package dev.peft4j.fuzz;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class SeedCorpusTest {
    @FunctionalInterface
    interface Target {
        boolean accepts(byte[] data) throws Exception;
    }

    @Test
    void safetensorsSeedsOpen() throws Exception {
        assertAllAccepted("SafeTensorsFuzzTestInputs/safetensorsFile", SafeTensorsFuzzTest::acceptsFile);
    }

    @Test
    void checkpointIndexSeedsOpen() throws Exception {
        assertAllAccepted("SafeTensorsFuzzTestInputs/checkpointIndex", SafeTensorsFuzzTest::acceptsIndex);
    }

    @Test
    void modelConfigSeedsLoad() throws Exception {
        assertAllAccepted("ModelConfigFuzzTestInputs/configJson", ModelConfigFuzzTest::accepts);
    }

    @Test
    void adapterConfigSeedsParseAndTheMatchingOneLoadsOntoTheTinyModel() throws Exception {
        assertAllAccepted("AdapterConfigFuzzTestInputs/adapterConfig", AdapterConfigFuzzTest::parses);
        byte[] matching = Files.readAllBytes(Path.of(SeedCorpusTest.class
                .getResource("AdapterConfigFuzzTestInputs/adapterConfig/peft_q_v.json").toURI()));
        assertThat(AdapterConfigFuzzTest.accepts(matching)).as("peft_q_v.json onto the tiny model: " + TypedErrors.lastRejection)
                .isTrue();
    }

    @Test
    void tokenizerSeedsLoadAndEncode() throws Exception {
        assertAllAccepted("TokenizerFuzzTestInputs/tokenizerJson", TokenizerFuzzTest::acceptsTokenizerJson);
        assertAllAccepted("TokenizerFuzzTestInputs/tokenizerConfig", TokenizerFuzzTest::acceptsTokenizerConfig);
    }

    @Test
    void dataSeedsLoad() throws Exception {
        assertAllAccepted("DataRecordsFuzzTestInputs/datasetFile", DataRecordsFuzzTest::accepts);
    }

    @Test
    void theOracleRejectsUntypedErrorsAndBlankMessages() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> TypedErrors.check(() -> { throw new NullPointerException(); }))
                .isInstanceOf(NullPointerException.class);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> TypedErrors.check(() -> { throw new dev.peft4j.Peft4jException(" "); }))
                .isInstanceOf(AssertionError.class);
    }

    private static void assertAllAccepted(String relative, Target target) throws Exception {
        URL url = SeedCorpusTest.class.getResource(relative);
        assertThat(url).as("seed directory dev/peft4j/fuzz/" + relative).isNotNull();
        List<Path> seeds = new ArrayList<>();
        try (Stream<Path> s = Files.list(Path.of(url.toURI()))) {
            s.filter(p -> !p.getFileName().toString().startsWith("crash-")).sorted().forEach(seeds::add);
        }
        assertThat(seeds).as("seeds in " + relative).isNotEmpty();
        for (Path seed : seeds) {
            assertThat(target.accepts(Files.readAllBytes(seed))).as("seed " + relative + "/" + seed.getFileName()
                    + " must be a valid input, but: " + TypedErrors.lastRejection).isTrue();
        }
    }
}
