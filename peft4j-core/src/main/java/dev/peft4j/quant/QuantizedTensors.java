/*
 * QuantizedTensors: a quantised linear weight in bitsandbytes' safetensors layout — what
 * Linear4bit / Linear8bitLt write into a state dict and what transformers' pre-quantised
 * ("bnb-4bit") checkpoints hold — written from and read into Nf4Matrix / Int8Matrix.
 *
 * NF4, for a module `<p>` (Linear4bit._save_to_state_dict + QuantState.as_dict(packed=True)):
 *   <p>.weight                                   U8 [(n+1)/2, 1]  packed codes, first element high nibble
 *   <p>.weight.absmax                            U8 [blocks] with double quantisation, else F32 [blocks]
 *   <p>.weight.quant_map                         F32 [16]
 *   <p>.weight.nested_absmax                     F32 [ceil(blocks/256)]   (double quantisation only)
 *   <p>.weight.nested_quant_map                  F32 [256]                (double quantisation only)
 *   <p>.weight.quant_state.bitsandbytes__nf4     U8: the UTF-8 bytes of json.dumps of the non-tensor
 *       items, in as_dict's order: quant_type, blocksize, dtype, shape, then with double quantisation
 *       nested_blocksize, nested_dtype, nested_offset — Python's default separators (", ", ": ") and
 *       float repr, e.g. {"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [576, 1536],
 *       "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.0123}
 * `dtype` is the dtype bnb dequantises to (the original weight's: "bfloat16", "float16", "float32").
 * Reading takes the weight bytes whatever their declared dtype (bnb's quant_storage may be any
 * 1- to 4-byte type; the byte stream is the same).
 *
 * int8 (Linear8bitLt._save_to_state_dict): <p>.weight I8 [out, in], <p>.SCB F32 [out], and
 * <p>.weight_format U8 [] = 0 ("row", the only format bnb still writes).
 */
package dev.peft4j.quant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.peft4j.Peft4jException;
import dev.peft4j.io.DType;
import dev.peft4j.io.SafeTensorsFile;
import dev.peft4j.io.SafeTensorsWriter;
import dev.peft4j.io.TensorInfo;
import dev.peft4j.kernels.Int8Matrix;
import dev.peft4j.kernels.Nf4Matrix;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

public final class QuantizedTensors {
    private QuantizedTensors() {}

    /** Suffix of the tensor holding the packed quant state of an NF4 weight. */
    public static final String NF4_STATE = ".weight.quant_state.bitsandbytes__nf4";

    // ---- NF4 ----

    /** The tensors bnb saves for an NF4 linear weight of module {@code prefix}; dtype as in the class comment. */
    public static List<SafeTensorsWriter.Tensor> nf4(String prefix, Nf4Matrix m, String dtype) {
        String w = prefix + ".weight";
        List<SafeTensorsWriter.Tensor> out = new ArrayList<>();
        out.add(SafeTensorsWriter.Tensor.raw(w, DType.U8, new long[] {m.packed().length, 1}, m.packed()));
        if (m.doubleQuantized()) {
            out.add(SafeTensorsWriter.Tensor.raw(w + ".absmax", DType.U8, new long[] {m.absmaxCodes().length}, m.absmaxCodes()));
            out.add(f32(w + ".nested_absmax", m.nestedAbsmax()));
            out.add(f32(w + ".nested_quant_map", m.nestedMap()));
        } else {
            out.add(f32(w + ".absmax", m.absmax()));
        }
        out.add(f32(w + ".quant_map", m.code()));
        byte[] state = quantStateJson(m, dtype).getBytes(StandardCharsets.UTF_8);
        out.add(SafeTensorsWriter.Tensor.raw(prefix + NF4_STATE, DType.U8, new long[] {state.length}, state));
        return out;
    }

    /** json.dumps of the non-tensor quant state items, byte for byte as bnb packs them. */
    public static String quantStateJson(Nf4Matrix m, String dtype) {
        StringBuilder sb = new StringBuilder("{\"quant_type\": \"nf4\", \"blocksize\": ").append(m.blocksize())
                .append(", \"dtype\": \"").append(dtype).append("\", \"shape\": [").append(m.rows()).append(", ").append(m.cols()).append(']');
        if (m.doubleQuantized()) {
            sb.append(", \"nested_blocksize\": ").append(m.nestedBlocksize())
              .append(", \"nested_dtype\": \"float32\", \"nested_offset\": ").append(pythonRepr(m.offset()));
        }
        return sb.append('}').toString();
    }

    /** True when {@code prefix}.weight is stored as bnb NF4 in this file. */
    public static boolean isNf4(SafeTensorsFile f, String prefix) { return f.contains(prefix + NF4_STATE); }

    /** Reads the NF4 weight of module {@code prefix}. */
    public static Nf4Matrix readNf4(SafeTensorsFile f, String prefix) {
        String w = prefix + ".weight";
        String stateName = prefix + NF4_STATE;
        if (!f.contains(stateName)) {
            String fp4 = prefix + ".weight.quant_state.bitsandbytes__fp4";
            throw new Peft4jException(f.contains(fp4)
                    ? w + " in " + f.path() + " is bitsandbytes FP4; only NF4 is supported — quantise with bnb_4bit_quant_type=\"nf4\""
                    : w + " in " + f.path() + " has no " + stateName + "; it is not a bitsandbytes NF4 weight");
        }
        JsonNode st;
        try {
            st = new ObjectMapper().readTree(new String(bytes(f, stateName), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new Peft4jException("the quant state " + stateName + " in " + f.path() + " is not JSON: " + e.getMessage(), e);
        }
        if (!"nf4".equals(st.path("quant_type").asText()))
            throw new Peft4jException(stateName + " in " + f.path() + " says quant_type " + st.path("quant_type") + ", expected \"nf4\"");
        JsonNode shape = st.path("shape");
        if (!shape.isArray() || shape.size() != 2)
            throw new Peft4jException(stateName + " in " + f.path() + " has shape " + shape + "; a linear weight is [out, in]");
        int rows = shape.get(0).asInt(), cols = shape.get(1).asInt(), blocksize = st.path("blocksize").asInt();
        byte[] packed = bytes(f, w);
        float[] code = f.readFloats(w + ".quant_map");
        try {
            if (st.has("nested_offset")) {
                return Nf4Matrix.doubleQuantized(packed, rows, cols, blocksize, code, bytes(f, w + ".absmax"),
                        f.readFloats(w + ".nested_absmax"), f.readFloats(w + ".nested_quant_map"),
                        st.path("nested_blocksize").asInt(), (float) st.path("nested_offset").asDouble());
            }
            return Nf4Matrix.of(packed, rows, cols, blocksize, code, f.readFloats(w + ".absmax"));
        } catch (IllegalArgumentException e) {
            throw new Peft4jException("NF4 weight " + w + " in " + f.path() + " is inconsistent: " + e.getMessage(), e);
        }
    }

    // ---- int8 ----

    /** The tensors bnb's Linear8bitLt saves for an int8 weight of module {@code prefix}. */
    public static List<SafeTensorsWriter.Tensor> int8(String prefix, Int8Matrix m) {
        return List.of(
                SafeTensorsWriter.Tensor.raw(prefix + ".weight", DType.I8, new long[] {m.rows(), m.cols()}, m.codes()),
                f32(prefix + ".SCB", m.rowAbsmax()),
                SafeTensorsWriter.Tensor.raw(prefix + ".weight_format", DType.U8, new long[0], new byte[] {0}));
    }

    /** True when {@code prefix}.weight is a bnb int8 weight (I8 with an SCB) in this file. */
    public static boolean isInt8(SafeTensorsFile f, String prefix) {
        return f.contains(prefix + ".SCB") && f.contains(prefix + ".weight") && f.info(prefix + ".weight").dtype() == DType.I8;
    }

    /** Reads the int8 weight of module {@code prefix}. */
    public static Int8Matrix readInt8(SafeTensorsFile f, String prefix) {
        String w = prefix + ".weight";
        TensorInfo info = f.info(w);
        if (info.dtype() != DType.I8 || info.rank() != 2)
            throw new Peft4jException(w + " in " + f.path() + " is " + info.dtype() + java.util.Arrays.toString(info.shape())
                    + "; a bnb int8 weight is I8 [out, in]");
        if (f.contains(prefix + ".weight_format")) {
            byte[] fmt = bytes(f, prefix + ".weight_format");
            if (fmt.length != 1 || fmt[0] != 0)
                throw new Peft4jException(prefix + ".weight_format in " + f.path() + " is not 0 (\"row\"); only row-major int8 weights are supported");
        }
        int[] s = info.shapeInts();
        try {
            return Int8Matrix.of(bytes(f, w), f.readFloats(prefix + ".SCB"), s[0], s[1]);
        } catch (IllegalArgumentException e) {
            throw new Peft4jException("int8 weight " + w + " in " + f.path() + " is inconsistent: " + e.getMessage(), e);
        }
    }

    // ---- helpers ----

    /** The raw bytes of a tensor. */
    static byte[] bytes(SafeTensorsFile f, String name) {
        return f.segment(name).toArray(ValueLayout.JAVA_BYTE);
    }

    private static SafeTensorsWriter.Tensor f32(String name, float[] v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) b.putFloat(x);
        return SafeTensorsWriter.Tensor.raw(name, DType.F32, new long[] {v.length}, b.array());
    }

    /**
     * Python's repr of a float (what json.dumps writes): the shortest decimal that reads back as
     * the same double, positional when 1e-4 <= |x| < 1e16 (with ".0" on integral values), else
     * d.ddde±XX with at least two exponent digits.
     */
    public static String pythonRepr(double x) {
        if (Double.isNaN(x)) return "NaN";
        if (Double.isInfinite(x)) return x > 0 ? "Infinity" : "-Infinity";
        if (x == 0) return (Double.doubleToRawLongBits(x) < 0 ? "-" : "") + "0.0";
        // Double.toString gives the shortest uniquely-identifying decimal (JDK 19+), as repr does
        BigDecimal d = new BigDecimal(Double.toString(Math.abs(x))).stripTrailingZeros();
        String digits = d.unscaledValue().toString();
        int decpt = digits.length() - d.scale();        // value = 0.<digits> x 10^decpt
        StringBuilder sb = new StringBuilder(x < 0 ? "-" : "");
        if (decpt > -4 && decpt <= 16) {
            if (decpt <= 0) {
                sb.append("0.").append("0".repeat(-decpt)).append(digits);
            } else if (decpt >= digits.length()) {
                sb.append(digits).append("0".repeat(decpt - digits.length())).append(".0");
            } else {
                sb.append(digits, 0, decpt).append('.').append(digits, decpt, digits.length());
            }
        } else {
            sb.append(digits.charAt(0));
            if (digits.length() > 1) sb.append('.').append(digits, 1, digits.length());
            int e = decpt - 1;
            sb.append('e').append(e < 0 ? '-' : '+');
            if (Math.abs(e) < 10) sb.append('0');
            sb.append(Math.abs(e));
        }
        return sb.toString();
    }
}
