package dev.peft4j.io;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.quant.Ggml;
import java.io.InputStream;
import java.util.HexFormat;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * ggml's block formats against the fixtures of scripts/golden/make_gguf_quant_goldens.py — a NumPy mirror
 * of ggml's reference quantisers, itself checked bit for bit against ggml-quants.c compiled
 * (check_ggml_quants_vs_c.py): every read type decodes to exactly the reference floats; every type
 * peft4j writes encodes to exactly the reference bytes.
 */
class GgmlQuantGoldenTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final java.util.Set<GgmlType> WRITTEN = java.util.EnumSet.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
            GgmlType.Q4_K, GgmlType.Q6_K);

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"})
    void decodingAndEncodingEqualGgmlReference(GgmlType t) throws Exception {
        JsonNode d;
        try (InputStream in = GgmlQuantGoldenTest.class.getResourceAsStream("gguf-quants/" + t.name() + ".json")) {
            d = JSON.readTree(in);
        }
        assertThat(d.get("type_id").asInt()).isEqualTo(t.id);
        assertThat(d.get("block_size").asInt()).isEqualTo(t.blockSize);
        assertThat(d.get("type_size").asInt()).isEqualTo(t.typeSize);
        int rows = 0;
        for (JsonNode r : d.get("rows")) {
            int n = r.get("n").asInt();
            float[] x = floats(r.get("input")), want = floats(r.get("dequantized"));
            byte[] q = HexFormat.of().parseHex(r.get("quantized_hex").asText());
            float[] got = new float[n];
            Ggml.dequantize(t, q, 0, n / t.blockSize, got, 0);
            for (int i = 0; i < n; i++)
                assertThat(Float.floatToRawIntBits(got[i])).as(t + " " + r.get("name").asText() + " dequantised element " + i)
                        .isEqualTo(Float.floatToRawIntBits(want[i]));
            if (WRITTEN.contains(t))
                assertThat(HexFormat.of().formatHex(Ggml.quantize(t, x, 0, n))).as(t + " " + r.get("name").asText() + " quantised")
                        .isEqualTo(r.get("quantized_hex").asText());
            rows++;
        }
        assertThat(rows).isGreaterThanOrEqualTo(7);
    }

    static float[] floats(JsonNode hex) {
        float[] f = new float[hex.size()];
        for (int i = 0; i < f.length; i++) f[i] = Float.intBitsToFloat(Integer.parseUnsignedInt(hex.get(i).asText(), 16));
        return f;
    }
}
