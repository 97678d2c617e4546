/*
 * LimitsCliTest: the CLI's answers to sizes it cannot honour - an OutOfMemoryError becomes one
 * error line with the fix and a non-zero exit code; a --prompt longer than the model's context is
 * refused without echoing it whole; a --max-new-tokens past the context is clamped with a note.
 */
package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class LimitsCliTest {
    @CommandLine.Command(name = "hog")
    static final class Hog implements Runnable {
        @Override public void run() { throw new OutOfMemoryError("Java heap space"); }
    }

    @Test
    void outOfMemoryIsAOneLineErrorWithTheFix() {
        PrintStream old = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int rc;
        try {
            rc = Main.execute(new CommandLine(new Hog()));
        } finally {
            System.setErr(old);
        }
        String e = err.toString(StandardCharsets.UTF_8);
        assertThat(rc).isEqualTo(3);
        assertThat(e).startsWith("error: out of memory").contains("PEFT4J_JVM_OPTS=-Xmx").contains("--batch-size")
                .doesNotContain("\tat ");
    }

    @Test
    void promptLongerThanTheContextIsRefusedWithoutEchoingItWhole() {
        String prompt = "Once upon a time there was a little girl. ".repeat(200);   // far past 512 tokens
        String[] r = CliTest.run("generate", "--model", CliTest.shared("models/stories260K").toString(), "--prompt", prompt);
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("--prompt is").contains("context (max_position_embeddings) is 512")
                .contains("… (" + prompt.length() + " chars)");
        assertThat(r[2].length()).isLessThan(400);
    }

    @Test
    void maxNewTokensPastTheContextIsClampedWithANote() {
        String[] r = CliTest.run("generate", "--model", CliTest.shared("models/stories260K").toString(), "--prompt",
                "Once upon a", "--max-new-tokens", "2000000000");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        assertThat(r[2]).contains("note: --max-new-tokens 2000000000 does not fit the model's context of 512");
        assertThat(r[1]).startsWith("Once upon a time");
    }
}
