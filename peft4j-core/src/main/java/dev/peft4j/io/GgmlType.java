/*
 * GgmlType: the tensor types of a GGUF file (ggml's enum ggml_type), with the block geometry of each:
 * blockSize elements are stored in typeSize bytes. peft4j reads F32, F16, BF16, Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1, Q4_K, Q5_K and Q6_K; other ids are known by name so that the error can say which type a
 * file uses.
 */
package dev.peft4j.io;

import java.util.Arrays;
import java.util.stream.Collectors;

public enum GgmlType {
    F32(0, 1, 4, true),
    F16(1, 1, 2, true),
    Q4_0(2, 32, 18, true),
    Q4_1(3, 32, 20, true),
    Q5_0(6, 32, 22, true),
    Q5_1(7, 32, 24, true),
    Q8_0(8, 32, 34, true),
    Q8_1(9, 32, 36, false),
    Q2_K(10, 256, 84, false),
    Q3_K(11, 256, 110, false),
    Q4_K(12, 256, 144, true),
    Q5_K(13, 256, 176, true),
    Q6_K(14, 256, 210, true),
    Q8_K(15, 256, 292, false),
    IQ2_XXS(16, 256, 66, false),
    IQ2_XS(17, 256, 74, false),
    IQ3_XXS(18, 256, 98, false),
    IQ1_S(19, 256, 50, false),
    IQ4_NL(20, 32, 18, false),
    IQ3_S(21, 256, 110, false),
    IQ2_S(22, 256, 82, false),
    IQ4_XS(23, 256, 136, false),
    I8(24, 1, 1, false),
    I16(25, 1, 2, false),
    I32(26, 1, 4, false),
    I64(27, 1, 8, false),
    F64(28, 1, 8, false),
    IQ1_M(29, 256, 56, false),
    BF16(30, 1, 2, true),
    TQ1_0(34, 256, 54, false),
    TQ2_0(35, 256, 66, false),
    MXFP4(39, 32, 17, false);

    public final int id, blockSize, typeSize;
    /** Whether peft4j decodes this type. */
    public final boolean readable;

    GgmlType(int id, int blockSize, int typeSize, boolean readable) {
        this.id = id;
        this.blockSize = blockSize;
        this.typeSize = typeSize;
        this.readable = readable;
    }

    /** Bytes of n elements (n a multiple of blockSize). */
    public long bytes(long n) { return n / blockSize * typeSize; }

    public boolean quantized() { return blockSize > 1; }

    /** The type with this id, or null. */
    public static GgmlType byId(long id) {
        for (GgmlType t : values()) if (t.id == id) return t;
        return null;
    }

    static String readableNames() {
        return Arrays.stream(values()).filter(t -> t.readable).map(Enum::name).collect(Collectors.joining(", "));
    }
}
