/*
 * DType: the element types a safetensors file can declare, spelled exactly as in the
 * header's "dtype" field (see huggingface/safetensors, safetensors/src/tensor.rs, enum Dtype).
 * Constraints: byteSize() is the storage size of one element; parse() rejects anything else
 * with a SafeTensorsFormatException that names the dtype and, when known, the tensor.
 */
package dev.peft4j.io;

import java.util.Arrays;
import java.util.stream.Collectors;

public enum DType {
    BOOL(1),
    U8(1),
    I8(1),
    I16(2),
    U16(2),
    F16(2),
    BF16(2),
    I32(4),
    U32(4),
    F32(4),
    F64(8),
    I64(8),
    U64(8),
    F8_E4M3(1),
    F8_E5M2(1);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** True for the dtypes peft4j decodes to f32: F32, F16 and BF16. */
    public boolean isFloatReadable() {
        return this == F32 || this == F16 || this == BF16;
    }

    /** Parses a header dtype string such as "BF16" (case-sensitive, as safetensors writes it). */
    public static DType parse(String name) {
        return parse(name, null);
    }

    /** Like {@link #parse(String)}; {@code tensor} (may be null) is named in the error message. */
    public static DType parse(String name, String tensor) {
        if (name != null) {
            for (DType t : values()) {
                if (t.name().equals(name)) return t;
            }
        }
        String known = Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
        String where = tensor == null ? "" : " for tensor \"" + tensor + "\"";
        throw new SafeTensorsFormatException("unknown safetensors dtype \"" + name + "\"" + where
                + "; expected one of " + known
                + ". The file may use a newer dtype peft4j does not support, or be corrupt: "
                + "re-export it as F32, F16 or BF16.");
    }
}
