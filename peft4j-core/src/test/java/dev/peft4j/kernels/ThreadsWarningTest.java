/*
 * ThreadsWarningTest: asking for more threads than cores warns once, naming the interface the
 * number came from; fewer than one is an error naming it too.
 */
package dev.peft4j.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ThreadsWarningTest {
    @Test
    void oversubscriptionWarnsOnceAndZeroIsRefusedByName() {
        Parallel.forgetWarning();              // another test in this JVM may have warned already
        int before = Parallel.threads();
        int cores = Runtime.getRuntime().availableProcessors();
        PrintStream old = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            Parallel.setThreads(cores + 3, "--threads " + (cores + 3));
            Parallel.setThreads(cores + 5, "--threads " + (cores + 5));
        } finally {
            Parallel.setThreads(before);
            System.setErr(old);
        }
        String e = err.toString(StandardCharsets.UTF_8);
        assertThat(e).contains("warning: --threads " + (cores + 3) + " asks for " + (cores + 3) + " threads but "
                + cores + " cores are available");
        assertThat(e.split("warning:", -1)).hasSize(2);    // once per process
        assertThatThrownBy(() -> Parallel.setThreads(0)).isInstanceOf(Peft4jException.class)
                .hasMessageStartingWith("Parallel.setThreads(0): the number of threads must be >= 1 (got 0)");
    }
}
