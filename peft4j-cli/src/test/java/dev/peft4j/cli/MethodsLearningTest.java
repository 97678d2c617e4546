package dev.peft4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every PEFT method learns the quickstart task: >= 95% held-out exact match (the base gets 0%); prompt
 * tuning, the weakest (virtual input embeddings only), >= 60% (measured 80/100 with its 800 default steps,
 * 68/100 at 400, 82/100 at 1200). The quickstart's base is pretrained on stories where animals mostly
 * "said nothing": it knows the sounds but does not give them.
 */
@Tag("slow")
class MethodsLearningTest {
    @TempDir Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"lora", "dora", "ia3", "loha", "vera", "lokr", "adalora", "prompt-tuning", "p-tuning", "prefix-tuning"})
    void quickstartTaskIsLearned(String method) {
        String[] r = CliTest.run("quickstart", "--method", method, "--output", tmp.resolve(method).toString());
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        Matcher m = Pattern.compile("held-out exact match: base (\\d+)/(\\d+) \\(\\d+%\\) -> adapted (\\d+)/(\\d+)").matcher(r[1]);
        assertThat(m.find()).as(r[1]).isTrue();
        int base = Integer.parseInt(m.group(1)), adapted = Integer.parseInt(m.group(3)), total = Integer.parseInt(m.group(4));
        System.out.printf("[learning] quickstart --method %s: base %d/%d -> adapted %d/%d%n", method, base, total, adapted, total);
        assertThat(base).isLessThan(total / 10);
        assertThat(adapted).isGreaterThanOrEqualTo((int) Math.ceil((method.equals("prompt-tuning") ? 0.6 : 0.95) * total));
    }
}
