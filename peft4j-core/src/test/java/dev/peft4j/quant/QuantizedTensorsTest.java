/*
 * bitsandbytes' safetensors layout for quantised linear weights: names, dtypes, shapes, the packed
 * JSON quant state byte for byte, and a write/read round trip that keeps every bit.
 */
package dev.peft4j.quant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.peft4j.Peft4jException;
import dev.peft4j.io.DType;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.io.SafeTensorsWriter;
import dev.peft4j.kernels.Int8Matrix;
import dev.peft4j.kernels.Nf4Matrix;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QuantizedTensorsTest {
    @TempDir Path dir;

    @Test
    void pythonReprOfFloats() {
        assertThat(QuantizedTensors.pythonRepr(0.0)).isEqualTo("0.0");
        assertThat(QuantizedTensors.pythonRepr(-0.0)).isEqualTo("-0.0");
        assertThat(QuantizedTensors.pythonRepr(1.0)).isEqualTo("1.0");
        assertThat(QuantizedTensors.pythonRepr(100.0)).isEqualTo("100.0");
        assertThat(QuantizedTensors.pythonRepr(0.5)).isEqualTo("0.5");
        assertThat(QuantizedTensors.pythonRepr(0.0001)).isEqualTo("0.0001");
        assertThat(QuantizedTensors.pythonRepr(1e-5)).isEqualTo("1e-05");
        assertThat(QuantizedTensors.pythonRepr(-2.5e-7)).isEqualTo("-2.5e-07");
        assertThat(QuantizedTensors.pythonRepr(1e15)).isEqualTo("1000000000000000.0");
        assertThat(QuantizedTensors.pythonRepr(1e16)).isEqualTo("1e+16");
        assertThat(QuantizedTensors.pythonRepr(1.5e300)).isEqualTo("1.5e+300");
        assertThat(QuantizedTensors.pythonRepr(123.456)).isEqualTo("123.456");
        assertThat(QuantizedTensors.pythonRepr((double) 0.1f)).isEqualTo("0.10000000149011612");   // tensor.item() of f32 0.1
        assertThat(QuantizedTensors.pythonRepr((double) 0.0123f)).isEqualTo("0.012299999594688416");
    }

    @Test
    void quantStateJsonIsWhatBnbPacks() {
        float[] w = new float[4 * 64];
        for (int i = 0; i < w.length; i++) w[i] = (float) Math.sin(i);
        Nf4Matrix plain = Quantize.nf4(w, 4, 64, 64, false);
        assertThat(QuantizedTensors.quantStateJson(plain, "bfloat16"))
                .isEqualTo("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": [4, 64]}");
        Nf4Matrix dq = Nf4Matrix.doubleQuantized(plain.packed(), 4, 64, 64, Nf4.code(), new byte[4], new float[1],
                Blockwise8.dynamicMap(), 256, 0.1f);
        assertThat(QuantizedTensors.quantStateJson(dq, "float16"))
                .isEqualTo("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float16\", \"shape\": [4, 64], "
                        + "\"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": 0.10000000149011612}");
    }

    @Test
    void nf4WritesBnbNamesDtypesAndShapesAndReadsBackBitForBit() {
        Random r = new Random(11);
        int rows = 40, cols = 96;                       // 3840 values, 60 blocks
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian() * 0.03f;
        Nf4Matrix dq = Quantize.nf4(w, rows, cols);
        Nf4Matrix plain = Quantize.nf4(w, rows, cols, 128, false);
        Int8Matrix i8 = Quantize.int8(w, rows, cols);
        List<SafeTensorsWriter.Tensor> ts = new ArrayList<>();
        ts.addAll(QuantizedTensors.nf4("model.layers.0.self_attn.q_proj", dq, "bfloat16"));
        ts.addAll(QuantizedTensors.nf4("model.layers.0.mlp.up_proj", plain, "float32"));
        ts.addAll(QuantizedTensors.int8("model.layers.0.mlp.down_proj", i8));
        Path file = dir.resolve("q.safetensors");
        SafeTensorsWriter.write(file, Map.of(), ts);

        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            String p = "model.layers.0.self_attn.q_proj.weight";
            assertThat(f.info(p).dtype()).isEqualTo(DType.U8);
            assertThat(f.info(p).shape()).containsExactly(1920, 1);
            assertThat(f.info(p + ".absmax").dtype()).isEqualTo(DType.U8);
            assertThat(f.info(p + ".absmax").shape()).containsExactly(60);
            assertThat(f.info(p + ".nested_absmax").dtype()).isEqualTo(DType.F32);
            assertThat(f.info(p + ".nested_absmax").shape()).containsExactly(1);
            assertThat(f.info(p + ".quant_map").shape()).containsExactly(16);
            assertThat(f.info(p + ".nested_quant_map").shape()).containsExactly(256);
            String json = new String(f.segment(p + ".quant_state.bitsandbytes__nf4").toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            assertThat(json).startsWith("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": [40, 96], "
                    + "\"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": ");
            assertThat(f.info("model.layers.0.mlp.up_proj.weight.absmax").dtype()).isEqualTo(DType.F32);
            assertThat(f.contains("model.layers.0.mlp.up_proj.weight.nested_absmax")).isFalse();
            assertThat(f.info("model.layers.0.mlp.down_proj.weight").dtype()).isEqualTo(DType.I8);
            assertThat(f.info("model.layers.0.mlp.down_proj.weight").shape()).containsExactly(40, 96);
            assertThat(f.info("model.layers.0.mlp.down_proj.SCB").shape()).containsExactly(40);
            assertThat(f.info("model.layers.0.mlp.down_proj.weight_format").shape()).isEmpty();

            assertThat(QuantizedTensors.isNf4(f, "model.layers.0.self_attn.q_proj")).isTrue();
            assertThat(QuantizedTensors.isNf4(f, "model.layers.0.mlp.down_proj")).isFalse();
            assertThat(QuantizedTensors.isInt8(f, "model.layers.0.mlp.down_proj")).isTrue();
            Nf4Matrix dq2 = QuantizedTensors.readNf4(f, "model.layers.0.self_attn.q_proj");
            assertThat(dq2.doubleQuantized()).isTrue();
            assertThat(dq2.offset()).isEqualTo(dq.offset());
            assertThat(dq2.toFloats()).containsExactly(dq.toFloats());
            assertThat(dq2.bytes()).isEqualTo(dq.bytes());
            Nf4Matrix plain2 = QuantizedTensors.readNf4(f, "model.layers.0.mlp.up_proj");
            assertThat(plain2.blocksize()).isEqualTo(128);
            assertThat(plain2.toFloats()).containsExactly(plain.toFloats());
            Int8Matrix i82 = QuantizedTensors.readInt8(f, "model.layers.0.mlp.down_proj");
            assertThat(i82.toFloats()).containsExactly(i8.toFloats());

            assertThatThrownBy(() -> QuantizedTensors.readNf4(f, "model.layers.0.mlp.down_proj"))
                    .isInstanceOf(Peft4jException.class).hasMessageContaining("not a bitsandbytes NF4 weight");
        }
    }
}
