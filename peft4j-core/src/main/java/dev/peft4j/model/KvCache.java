/*
 * KvCache: keys and values of every layer for B sequences, laid out (B, KVH, capacity, HS) so one
 * key is HS contiguous floats for the attention dot products. length() is the number of cache
 * slots filled so far (the same for every row: shorter prompts are left-padded). A prompt-learning
 * adapter's virtual tokens or key/value prefixes take the first virtualTokens() slots of every row,
 * before the padding: row b's slots are [virtual | pad[b] padding | its tokens]. A model that may have to
 * rebuild its cache (Phi-3's LongRoPE switching factors past original_max_position_embeddings) records the
 * token id of each slot as well.
 *
 * A ragged view (ragged(...)) joins single-sequence caches of different lengths into one batch for a
 * decode step (continuous batching): each member keeps its own arrays, the view presents them as a
 * left-padded batch whose length is the longest member's — pad() gives each member's padding, which the
 * caller passes to the forward, so positions come out as each member's own — and attention runs per
 * member over its own slots (Positions.attention).
 */
package dev.peft4j.model;

import dev.peft4j.Peft4jException;

public final class KvCache {
    final float[][] k, v;     // [layer] -> (B, KVH, capacity, HS)
    final int batch, capacity, kvHeads, headDim;
    private int length, virtualTokens;
    private int[] tokens;     // (B, capacity) the token id of each slot, when a model records them (Phi-3's LongRoPE), else null
    private final KvCache[] members;   // a ragged view's single-sequence caches, else null

    KvCache(int layers, int batch, int capacity, int kvHeads, int headDim) {
        long perLayer = (long) batch * kvHeads * capacity * headDim;
        if (perLayer > Integer.MAX_VALUE - 16)
            throw new Peft4jException("KV cache of " + batch + " x " + capacity + " positions is too large for one array; "
                    + "lower the batch size or --max-new-tokens");
        dev.peft4j.Memory.require(2L * layers * perLayer * Float.BYTES, "the KV cache (" + batch + " x " + capacity
                + " positions, " + layers + " layers, " + kvHeads + " x " + headDim + " per position)",
                "lower --max-new-tokens, the prompt length or the batch size");
        this.k = new float[layers][(int) perLayer];
        this.v = new float[layers][(int) perLayer];
        this.batch = batch;
        this.capacity = capacity;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.members = null;
    }

    private KvCache(KvCache[] members) {
        this.members = members;
        this.k = null;
        this.v = null;
        this.batch = members.length;
        this.kvHeads = members[0].kvHeads;
        this.headDim = members[0].headDim;
        int longest = 0, room = Integer.MAX_VALUE;
        for (KvCache m : members) {
            longest = Math.max(longest, m.length);
            room = Math.min(room, m.capacity - m.length);
        }
        this.length = longest;
        this.capacity = longest + room;
    }

    /**
     * A batch view over single-sequence caches (each of batch 1, each holding at least one slot) for one
     * forward of T new positions per member: run it with pad = view.pad(). Members advance with the view.
     */
    public static KvCache ragged(java.util.List<KvCache> caches) {
        if (caches.isEmpty()) throw new IllegalArgumentException("a ragged batch needs at least one cache");
        for (KvCache c : caches) {
            if (c.members != null || c.batch != 1)
                throw new IllegalArgumentException("a ragged batch joins single-sequence caches (batch 1), got batch " + c.batch);
            if (c.length == 0) throw new IllegalArgumentException("a ragged batch joins caches that hold a prompt already (prefill first)");
            if (c.kvHeads != caches.get(0).kvHeads || c.headDim != caches.get(0).headDim || c.k.length != caches.get(0).k.length)
                throw new IllegalArgumentException("the caches of a ragged batch come from different models");
        }
        return new KvCache(caches.toArray(KvCache[]::new));
    }

    /** True for a ragged view (see ragged()). */
    public boolean isRagged() { return members != null; }

    /** A ragged view's left padding per member (longest length - member length); a plain cache: null. */
    public int[] pad() {
        if (members == null) return null;
        int[] pad = new int[batch];
        for (int b = 0; b < batch; b++) pad[b] = length - members[b].length;
        return pad;
    }

    /** A ragged view's member b. */
    KvCache member(int b) { return members[b]; }

    public int length() { return length; }
    public int capacity() { return capacity; }
    public int batch() { return batch; }
    /** Slots [0, virtualTokens()) hold a prompt adapter's virtual tokens / prefixes (0: none). */
    public int virtualTokens() { return virtualTokens; }

    /** Marks the first p slots as virtual (called once, by the forward that fills them). */
    void setVirtualTokens(int p) {
        if (length != 0) throw new IllegalStateException("virtual tokens go first; the cache already holds " + length + " slots");
        virtualTokens = p;
    }

    /** Bytes held by this cache. */
    public long bytes() {
        if (members != null) { long n = 0; for (KvCache m : members) n += m.bytes(); return n; }
        return 2L * k.length * k[0].length * Float.BYTES;
    }

    void advance(int t) {
        if (members != null) for (KvCache m : members) m.advance(t);
        length += t;
    }

    /** Records the ids of B*T new tokens at slots [at, at+T) of each row (a model that may have to recompute the cache). */
    void recordTokens(int[] ids, int T, int at) {
        if (members != null) {
            int[] pad = pad();
            for (int b = 0; b < batch; b++) members[b].recordTokens(java.util.Arrays.copyOfRange(ids, b * T, (b + 1) * T), T, at - pad[b]);
            return;
        }
        if (at + T > capacity)
            throw new Peft4jException("KV cache full: " + at + " + " + T + " positions exceed its capacity "
                    + capacity + "; create the cache with a larger capacity");
        if (tokens == null) tokens = new int[batch * capacity];
        for (int b = 0; b < batch; b++) System.arraycopy(ids, b * T, tokens, b * capacity + at, T);
    }

    /** The recorded ids of slots [from, to) of every row: (B, to - from). */
    int[] tokens(int from, int to) {
        if (members != null) throw raggedRecompute();
        int n = to - from;
        int[] out = new int[batch * n];
        for (int b = 0; b < batch; b++) System.arraycopy(tokens, b * capacity + from, out, b * n, n);
        return out;
    }

    /** Empties the cache (keys and values are overwritten by the next forward, which starts at slot 0 again). */
    void clear() {
        if (members != null) throw raggedRecompute();
        length = 0;
        virtualTokens = 0;
    }

    /** Copies the new keys/values (B*T rows of KVH*HS) into slots [length, length+T) of layer l. */
    void store(int l, float[] newK, float[] newV, int T) { store(l, newK, newV, T, length); }

    /** Copies B*T rows of keys/values into slots [at, at+T) of layer l. */
    void store(int l, float[] newK, float[] newV, int T, int at) {
        if (members != null) {                            // member b's rows go to its own slots [at - pad[b], ...)
            int[] pad = pad();
            int row = T * kvHeads * headDim;
            for (int b = 0; b < batch; b++)
                members[b].store(l, java.util.Arrays.copyOfRange(newK, b * row, (b + 1) * row),
                        java.util.Arrays.copyOfRange(newV, b * row, (b + 1) * row), T, at - pad[b]);
            return;
        }
        if (at + T > capacity)
            throw new Peft4jException("KV cache full: " + at + " + " + T + " positions exceed its capacity "
                    + capacity + "; create the cache with a larger capacity");
        int HS = headDim, KVH = kvHeads;
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < T; t++)
                for (int h = 0; h < KVH; h++) {
                    int src = ((b * T + t) * KVH + h) * HS, dst = ((b * KVH + h) * capacity + at + t) * HS;
                    System.arraycopy(newK, src, k[l], dst, HS);
                    System.arraycopy(newV, src, v[l], dst, HS);
                }
    }

    private static Peft4jException raggedRecompute() {
        return new Peft4jException("this step would rebuild the KV cache (Phi-3's LongRoPE switching to its long factors), "
                + "which a ragged batch cannot do; run that sequence's step on its own cache");
    }
}
