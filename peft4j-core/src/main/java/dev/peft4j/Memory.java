/*
 * Memory: checks a large allocation sized from user numbers (a KV cache from prompt + new tokens,
 * a model's f32 weights) against the Java heap before making it, so the user gets an error that
 * says how much is needed, how much is available and what to change, instead of an
 * OutOfMemoryError stack trace part-way through. Available = Runtime.maxMemory() minus the heap in
 * use; a garbage collection is asked for once before refusing, so collectable garbage does not
 * count as used.
 */
package dev.peft4j;

public final class Memory {
    private Memory() {}

    /** Heap bytes this JVM can still allocate (max heap minus what is in use now). */
    public static long available() {
        Runtime rt = Runtime.getRuntime();
        return rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
    }

    /**
     * Throws a Peft4jException when bytes do not fit in the heap that is left.
     *
     * @param what what the bytes are for ("the KV cache for 1 x 4096 positions")
     * @param fix  how to need less ("lower --max-new-tokens or the batch size")
     */
    public static void require(long bytes, String what, String fix) {
        if (bytes <= available()) return;
        System.gc();                     // only on the refusing path: count garbage as free
        long left = available();
        if (bytes <= left) return;
        throw new Peft4jException("not enough Java heap for " + what + ": needs " + human(bytes) + ", available "
                + human(left) + " (max heap " + human(Runtime.getRuntime().maxMemory()) + "). Fix: " + fix
                + ", or give the JVM more heap, e.g. PEFT4J_JVM_OPTS=-Xmx" + suggestGiB(bytes) + "g");
    }

    /** A heap size in GiB that fits what is in use now plus bytes, with some room. */
    private static long suggestGiB(long bytes) {
        Runtime rt = Runtime.getRuntime();
        long used = rt.totalMemory() - rt.freeMemory();
        return Math.max(1, (long) Math.ceil((used + bytes) * 1.25 / (1L << 30)));
    }

    /** 1.5 GiB, 300.0 MiB, 12 KiB. */
    public static String human(long bytes) {
        if (bytes >= 1L << 30) return String.format("%.1f GiB", bytes / (double) (1L << 30));
        if (bytes >= 1L << 20) return String.format("%.1f MiB", bytes / (double) (1L << 20));
        if (bytes >= 1L << 10) return String.format("%d KiB", bytes >> 10);
        return bytes + " bytes";
    }
}
