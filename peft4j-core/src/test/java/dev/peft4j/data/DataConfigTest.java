/*
 * DataConfigTest: defaults and validation messages of DataConfig.
 */
package dev.peft4j.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DataConfigTest {

    @Test
    void defaultsFollowTrl() {
        DataConfig c = DataConfig.defaults();
        assertThat(c.format()).isEqualTo(DataFormat.AUTO);
        assertThat(c.maxLength()).isEqualTo(512);
        assertThat(c.completionOnlyLoss()).isTrue();
        assertThat(c.packing()).isFalse();
        assertThat(c.validationFraction()).isZero();
        assertThat(c.validationFile()).isNull();
        assertThat(c.skipMalformed()).isFalse();
        assertThat(c.addEos()).isTrue();
        assertThat(c.chatTemplate()).isNull();
        assertThat(c.limit()).isZero();
        assertThat(c.columns()).isEmpty();
    }

    @Test
    void builderRoundTrips() {
        DataConfig c = DataConfig.builder().format(DataFormat.MESSAGES).maxLength(128).packing(true)
                .validationFraction(0.1).seed(7).skipMalformed(true).addEos(false).chatTemplate("{{ x }}")
                .limit(10).columns(Map.of("question", "prompt")).completionOnlyLoss(false).build();
        assertThat(c.toBuilder().build()).isEqualTo(c);
        assertThat(c.seed()).isEqualTo(7);
    }

    @Test
    void rejectsBadValuesWithHowToFix() {
        assertThatThrownBy(() -> DataConfig.builder().maxLength(0).build())
                .isInstanceOf(Peft4jException.class).hasMessageContaining("maxLength must be > 1 (got 0)");
        assertThatThrownBy(() -> DataConfig.builder().maxLength(1).build())
                .hasMessageContaining("maxLength must be > 1 (got 1)");
        assertThatThrownBy(() -> DataConfig.builder().validationFraction(1.0).build())
                .hasMessageContaining("validationFraction must be in [0, 1) (got 1.0)");
        assertThatThrownBy(() -> DataConfig.builder().validationFraction(-0.1).build())
                .hasMessageContaining("(got -0.1)");
        assertThatThrownBy(() -> DataConfig.builder().validationFraction(Double.NaN).build())
                .hasMessageContaining("validationFraction");
        assertThatThrownBy(() -> DataConfig.builder().validationFraction(0.1).validationFile(Path.of("v.jsonl")).build())
                .hasMessageContaining("not both");
        assertThatThrownBy(() -> DataConfig.builder().chatTemplate("  ").build())
                .hasMessageContaining("blank");
        assertThatThrownBy(() -> DataConfig.builder().limit(-1).build())
                .hasMessageContaining("limit must be >= 0 (got -1)");
        assertThatThrownBy(() -> DataConfig.builder().format(null).build())
                .hasMessageContaining("DataFormat.AUTO");
    }
}
