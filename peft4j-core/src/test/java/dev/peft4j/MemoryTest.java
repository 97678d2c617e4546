/*
 * MemoryTest: allocations sized from user numbers are checked against the heap first and refused
 * with what is needed, what is available and how to fix it - never an OutOfMemoryError.
 */
package dev.peft4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.model.CausalLM;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class MemoryTest {
    @Test
    void tooLargeARequestIsAClearError() {
        assertThatThrownBy(() -> Memory.require(Long.MAX_VALUE / 4, "a test buffer", "ask for less"))
                .isInstanceOf(Peft4jException.class)
                .hasMessageContaining("not enough Java heap for a test buffer").hasMessageContaining("needs ")
                .hasMessageContaining("available ").hasMessageContaining("Fix: ask for less")
                .hasMessageContaining("PEFT4J_JVM_OPTS=-Xmx");
        Memory.require(1024, "a small buffer", "none needed");   // fits: no error
    }

    @Test
    void kvCacheBeyondTheHeapIsRefusedBeforeAllocating() {
        CausalLM model = CausalLM.load(Golden.model("llama"));   // 2 layers, 2 KV heads x 16
        int batch = 200_000, capacity = 128;
        long needed = 2L * 2 * batch * 2 * capacity * 16 * Float.BYTES;     // about 13 GB
        Assumptions.assumeTrue(needed > Runtime.getRuntime().maxMemory(), "this JVM's heap would hold the cache");
        assertThatThrownBy(() -> model.newCache(batch, capacity)).isInstanceOf(Peft4jException.class)
                .hasMessageContaining("KV cache").hasMessageContaining("--max-new-tokens");
    }

    @Test
    void abbreviateKeepsMessagesShort() {
        assertThat(Peft4jException.abbreviate("short", 80)).isEqualTo("short");
        String longText = "word ".repeat(10_000);
        assertThat(Peft4jException.abbreviate(longText, 80)).hasSize(80 + "… (50000 chars)".length())
                .endsWith("… (50000 chars)");
        assertThat(Peft4jException.abbreviate("ab🦙", 3)).isEqualTo("ab… (4 chars)");   // no half surrogate pair
    }
}
