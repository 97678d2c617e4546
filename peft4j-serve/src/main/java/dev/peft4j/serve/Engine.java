/*
 * Engine: one base model, many adapters, one scheduler thread — continuous batching for serving.
 *
 * Requests become Sequences (a request with n choices is n sequences). A bounded queue holds the
 * waiting ones; the scheduler loop, on its own thread, repeats:
 *   1. control work (load / unload adapters: the model is only ever touched by this thread);
 *   2. retire cancelled and timed-out sequences, admit waiting ones up to maxBatch;
 *   3. one prefill chunk of at most prefillChunk prompt tokens for the oldest sequence still
 *      prefilling (each sequence has its own KV cache) — so a long prompt is spread over several
 *      iterations and never stalls the sequences already decoding;
 *   4. one decode step for every decoding sequence at once: a ragged batch over their caches
 *      (KvCache.ragged), rows sorted by adapter, each Linear routed per sequence — the base GEMMs
 *      run once over all rows, each adapter's low-rank path over its own rows only.
 * Sequences of prompt-learning adapters get their virtual tokens / prefixes in their prefill and
 * decode as base rows (their adapter lives in their cache). Finished sequences leave at once and
 * waiting ones take their places at the next iteration.
 *
 * Listeners are called on the scheduler thread and must not block.
 */
package dev.peft4j.serve;

import dev.peft4j.Peft4jException;
import dev.peft4j.generate.Sampler;
import dev.peft4j.generate.SamplingConfig;
import dev.peft4j.model.CausalLM;
import dev.peft4j.model.KvCache;
import dev.peft4j.model.VirtualPrompt;
import dev.peft4j.nn.Linear;
import dev.peft4j.tuner.AdapterModel;
import dev.peft4j.tuner.PeftModel;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

public final class Engine implements AutoCloseable {
    /** Why a sequence ended. OpenAI's finish_reason is "stop" for STOP, "length" for LENGTH. */
    public enum Finish { STOP, LENGTH, CANCELLED, TIMEOUT, ERROR }

    /** Receives a sequence's tokens and its end, on the scheduler thread (must not block). */
    public interface Listener {
        void onToken(Sequence seq, int id);

        void onFinish(Sequence seq, Finish reason, String error);
    }

    /** Observes each decode step's batch size (metrics). */
    public interface StepObserver { void onDecodeStep(int batchSize); }

    /** Engine limits. */
    public record Limits(int maxBatch, int maxQueue, int maxLoadedAdapters, int prefillChunk) {
        public Limits {
            if (maxBatch < 1) throw new Peft4jException("--max-batch must be >= 1 (got " + maxBatch + ")");
            if (maxQueue < 1) throw new Peft4jException("--max-queue must be >= 1 (got " + maxQueue + ")");
            if (maxLoadedAdapters < 1) throw new Peft4jException("--max-loaded-adapters must be >= 1 (got " + maxLoadedAdapters + ")");
            if (prefillChunk < 1) throw new Peft4jException("--prefill-chunk must be >= 1 (got " + prefillChunk + ")");
        }
    }

    /** Raised by submit() when the waiting queue is full (HTTP 429). */
    public static final class QueueFullException extends Peft4jException {
        QueueFullException(String m) { super(m); }
    }

    /** Raised for a model / adapter name that is not served (HTTP 404). */
    public static final class UnknownModelException extends Peft4jException {
        UnknownModelException(String m) { super(m); }
    }

    /** Raised while the engine drains or is closed (HTTP 503). */
    public static final class UnavailableException extends Peft4jException {
        UnavailableException(String m) { super(m); }
    }

    /** One generated sequence: a prompt, an adapter, sampling settings, its own KV cache once admitted. */
    public static final class Sequence {
        final String adapter;                 // null: the base model
        final int[] prompt;
        final SamplingConfig sampling;
        final Sampler sampler;
        final Listener listener;
        final long deadlineNanos;
        public final Object tag;              // the caller's (e.g. the choice index)
        KvCache cache;
        int prefilled;                        // prompt tokens already in the cache
        int last = -1;                        // token to feed at the next decode step
        int generated;
        private volatile Finish cancelled;
        boolean finished;

        Sequence(String adapter, int[] prompt, SamplingConfig sampling, Listener listener, long deadlineNanos, Object tag) {
            this.adapter = adapter;
            this.prompt = prompt;
            this.sampling = sampling;
            this.sampler = new Sampler(sampling);
            this.listener = listener;
            this.deadlineNanos = deadlineNanos;
            this.tag = tag;
        }

        /** Asks the scheduler to end this sequence (a stop string was reached, the client went away). */
        public void cancel(Finish why) { if (cancelled == null) cancelled = why; }

        public int generated() { return generated; }
        public int promptTokens() { return prompt.length; }
        public String adapter() { return adapter; }
    }

    /** An adapter the engine knows: registered (a directory), and loaded or not. */
    private static final class Entry {
        final String name;
        final Path dir;
        AdapterModel model;                   // null while not loaded
        String route;                         // routing name for its rows (null for prompt-learning adapters)
        VirtualPrompt prompt;                 // prompt-learning adapters' virtual tokens / prefixes
        int refs;                             // submitted sequences not yet finished
        boolean unloading;
        long lastUsed;

        Entry(String name, Path dir) { this.name = name; this.dir = dir; }
    }

    private final CausalLM model;
    private final PeftModel peft;
    private final Set<Integer> eos;
    private final Limits limits;
    private final String baseName;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    private final Deque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> active = new ArrayList<>();
    private final Map<String, Entry> adapters = new LinkedHashMap<>();
    private final ConcurrentLinkedQueue<Runnable> control = new ConcurrentLinkedQueue<>();
    private final List<Runnable> deferred = new ArrayList<>();     // scheduler-thread only
    private final Thread thread;
    private volatile StepObserver observer = n -> { };
    private volatile boolean draining, closed, held;
    private long useClock;

    public Engine(CausalLM model, String baseName, Set<Integer> eos, Limits limits) {
        this.model = model;
        this.peft = new PeftModel(model);
        this.eos = eos;
        this.limits = limits;
        this.baseName = baseName;
        this.thread = Thread.ofPlatform().name("peft4j-scheduler").daemon(true).unstarted(this::loop);
        thread.start();
    }

    public CausalLM model() { return model; }
    public String baseName() { return baseName; }
    public Limits limits() { return limits; }
    public void setStepObserver(StepObserver o) { this.observer = o == null ? n -> { } : o; }

    /** Names of the registered adapters (loaded or loadable), in registration order. */
    public List<String> adapterNames() {
        lock.lock();
        try {
            List<String> out = new ArrayList<>();
            for (Entry e : adapters.values()) if (!e.unloading) out.add(e.name);
            return out;
        } finally { lock.unlock(); }
    }

    /** How many adapters are in memory now. */
    public int loadedAdapters() {
        lock.lock();
        try { return (int) adapters.values().stream().filter(e -> e.model != null).count(); } finally { lock.unlock(); }
    }

    public int queueDepth() {
        lock.lock();
        try { return waiting.size(); } finally { lock.unlock(); }
    }

    public int running() {
        lock.lock();
        try { return active.size(); } finally { lock.unlock(); }
    }

    /** Registers an adapter directory under name and loads it (evicting the least recently used idle one if needed). */
    public CompletableFuture<Void> loadAdapter(String name, Path dir) {
        if (name == null || name.isBlank() || name.equals(baseName))
            throw new Peft4jException("adapter name '" + name + "' is empty or the base model's name; choose another");
        lock.lock();
        try {
            if (closed || draining) throw new UnavailableException("the server is shutting down");
            if (adapters.containsKey(name))
                throw new Peft4jException("an adapter named '" + name + "' is already loaded; unload it first or choose another name");
            adapters.put(name, new Entry(name, dir));
        } finally { lock.unlock(); }
        CompletableFuture<Void> done = new CompletableFuture<>();
        onScheduler(() -> {
            Entry e;
            lock.lock();
            try { e = adapters.get(name); } finally { lock.unlock(); }
            try {
                ensureLoaded(e);
                done.complete(null);
            } catch (RuntimeException ex) {
                lock.lock();
                try { adapters.remove(name); } finally { lock.unlock(); }
                done.completeExceptionally(ex);
            }
        });
        return done;
    }

    /**
     * Unregisters an adapter: new requests for it are refused at once; it leaves memory when the
     * requests already using it have finished (the future completes then).
     */
    public CompletableFuture<Void> unloadAdapter(String name) {
        lock.lock();
        try {
            Entry e = adapters.get(name);
            if (e == null || e.unloading) throw new UnknownModelException("no adapter named '" + name + "' is loaded; loaded: " + adapterNamesLocked());
            e.unloading = true;
        } finally { lock.unlock(); }
        CompletableFuture<Void> done = new CompletableFuture<>();
        onScheduler(new Runnable() {
            @Override public void run() {
                Entry e;
                lock.lock();
                try {
                    e = adapters.get(name);
                    if (e.refs > 0) { deferred.add(this); return; }            // wait for its in-flight requests
                    adapters.remove(name);
                } finally { lock.unlock(); }
                if (e.model != null) peft.deleteAdapter(name);
                done.complete(null);
            }
        });
        return done;
    }

    /**
     * Queues the sequences of one request (all or none). adapter: null for the base model.
     * Throws UnknownModelException, QueueFullException or UnavailableException.
     */
    public List<Sequence> submit(String adapter, List<int[]> prompts, List<SamplingConfig> sampling, Listener listener,
                                 long timeoutNanos, List<?> tags) {
        long deadline = System.nanoTime() + timeoutNanos;
        List<Sequence> seqs = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++)
            seqs.add(new Sequence(adapter, prompts.get(i), sampling.get(i), listener, deadline, tags.get(i)));
        lock.lock();
        try {
            if (closed || draining) throw new UnavailableException("the server is shutting down; not accepting new requests");
            if (adapter != null) {
                Entry e = adapters.get(adapter);
                if (e == null || e.unloading) throw new UnknownModelException("The model `" + adapter + "` does not exist");
                e.refs += seqs.size();
            }
            if (waiting.size() + seqs.size() > limits.maxQueue()) {
                if (adapter != null) adapters.get(adapter).refs -= seqs.size();
                throw new QueueFullException("the server's queue is full (" + limits.maxQueue() + " waiting sequences); retry later");
            }
            waiting.addAll(seqs);
            work.signalAll();
        } finally { lock.unlock(); }
        return seqs;
    }

    /** Stops taking requests; lets running and queued ones finish for up to grace, then cancels the rest and stops. */
    @Override public void close() { close(TimeUnit.SECONDS.toNanos(10)); }

    public void close(long graceNanos) {
        draining = true;
        long until = System.nanoTime() + graceNanos;
        while (System.nanoTime() < until && (running() > 0 || queueDepth() > 0)) {
            try { Thread.sleep(20); } catch (InterruptedException e) { Thread.currentThread().interrupt(); break; }
        }
        lock.lock();
        try {
            closed = true;
            for (Sequence s : waiting) s.cancel(Finish.CANCELLED);
            for (Sequence s : active) s.cancel(Finish.CANCELLED);
            work.signalAll();
        } finally { lock.unlock(); }
        try { thread.join(TimeUnit.SECONDS.toMillis(30)); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
    }

    public boolean isDraining() { return draining; }

    /** Holds (true) or resumes the model steps; admission, queueing and control work go on (tests, maintenance). */
    public void holdSteps(boolean hold) {
        held = hold;
        lock.lock();
        try { work.signalAll(); } finally { lock.unlock(); }
    }

    // ---- scheduler thread ------------------------------------------------------------------------------

    private void onScheduler(Runnable r) {
        control.add(r);
        lock.lock();
        try { work.signalAll(); } finally { lock.unlock(); }
    }

    private void loop() {
        while (true) {
            runControl();
            List<Sequence> ready;
            lock.lock();
            try {
                retire();
                if (closed && waiting.isEmpty() && active.isEmpty()) return;
                while (active.size() < limits.maxBatch() && !waiting.isEmpty()) active.add(waiting.poll());
                if (active.isEmpty()) {
                    if (control.isEmpty())
                        try { work.await(deferred.isEmpty() ? 1000 : 10, TimeUnit.MILLISECONDS); } catch (InterruptedException e) { return; }
                    continue;
                }
                if (held && !closed) {
                    try { work.await(5, TimeUnit.MILLISECONDS); } catch (InterruptedException e) { return; }
                    continue;
                }
                ready = new ArrayList<>(active);
            } finally { lock.unlock(); }
            step(ready);
        }
    }

    private void runControl() {
        List<Runnable> again = new ArrayList<>(deferred);
        deferred.clear();
        for (Runnable r : again) r.run();
        for (Runnable r; (r = control.poll()) != null; ) r.run();
    }

    /** Removes finished, cancelled and timed-out sequences (lock held). */
    private void retire() {
        long now = System.nanoTime();
        for (Sequence s : active) {
            if (s.finished) continue;
            if (s.cancelled != null) finish(s, s.cancelled, null);
            else if (now > s.deadlineNanos) finish(s, Finish.TIMEOUT, "the request ran past its timeout");
        }
        active.removeIf(s -> s.finished);
        for (var it = waiting.iterator(); it.hasNext(); ) {
            Sequence s = it.next();
            Finish why = s.cancelled != null ? s.cancelled : now > s.deadlineNanos ? Finish.TIMEOUT : null;
            if (why == null) continue;
            it.remove();
            finish(s, why, why == Finish.TIMEOUT ? "the request waited past its timeout" : null);
        }
    }

    /** One iteration: a prefill chunk for the oldest prefilling sequence, then one decode step for all decoding ones. */
    private void step(List<Sequence> ready) {
        for (Sequence s : ready) {
            if (s.finished || s.last >= 0) continue;
            try {
                prefillChunk(s);
            } catch (RuntimeException ex) {
                fail(List.of(s), ex);
            }
            break;
        }
        List<Sequence> decoding = new ArrayList<>();
        for (Sequence s : ready) if (!s.finished && s.last >= 0 && s.cancelled == null) decoding.add(s);
        if (!decoding.isEmpty()) {
            try {
                decode(decoding);
            } catch (RuntimeException ex) {
                fail(decoding, ex);
            }
        }
    }

    private void prefillChunk(Sequence s) {
        Entry e = s.adapter == null ? null : entry(s.adapter);
        if (e != null) ensureLoaded(e);
        if (s.cache == null) {
            int capacity = (int) Math.min((long) s.prompt.length + s.sampling.maxNewTokens(), model.config().maxPositions());
            model.setPrompt(e == null ? null : e.prompt);      // newCache sizes for the virtual positions
            try {
                s.cache = model.newCache(1, capacity);
            } finally {
                model.setPrompt(null);
            }
        }
        int n = Math.min(limits.prefillChunk(), s.prompt.length - s.prefilled);
        int[] chunk = java.util.Arrays.copyOfRange(s.prompt, s.prefilled, s.prefilled + n);
        route(new String[] {e == null ? null : e.route});
        model.setPrompt(s.prefilled == 0 && e != null ? e.prompt : null);   // virtual tokens enter with the first chunk
        float[] logits;
        try {
            logits = model.forward(chunk, 1, n, s.cache, null, true);
        } finally {
            model.setPrompt(null);
        }
        s.prefilled += n;
        if (s.prefilled == s.prompt.length) accept(s, logits, 0);
    }

    private void decode(List<Sequence> seqs) {
        int V = model.config().vocabSize();
        List<Sequence> together = new ArrayList<>();
        for (Sequence s : seqs) {
            if (!model.needsOwnStep(s.cache, 1)) { together.add(s); continue; }
            route(new String[] {routeOf(s)});                  // e.g. Phi-3 passing original_max: its cache is rebuilt
            accept(s, model.forward(new int[] {s.last}, 1, 1, s.cache, null, true), 0);
        }
        if (together.isEmpty()) return;
        together.sort(Comparator.comparing(s -> { String r = routeOf(s); return r == null ? "" : "\u0001" + r; }));
        int B = together.size();
        int[] next = new int[B];
        String[] routes = new String[B];
        List<KvCache> caches = new ArrayList<>(B);
        for (int i = 0; i < B; i++) {
            Sequence s = together.get(i);
            next[i] = s.last;
            routes[i] = routeOf(s);
            caches.add(s.cache);
        }
        KvCache view = KvCache.ragged(caches);
        route(routes);
        float[] logits = model.forward(next, B, 1, view, view.pad(), true);   // (B, V)
        observer.onDecodeStep(B);
        for (int i = 0; i < B; i++) accept(together.get(i), logits, i * V);
    }

    /** Samples the next token from logits[off, off+V) and delivers it, or ends the sequence. */
    private void accept(Sequence s, float[] logits, int off) {
        int V = model.config().vocabSize();
        try {
            dev.peft4j.model.NonFinite.checkLogits(model, logits, off, off + V, "logits of generated token " + (s.generated + 1));
        } catch (Peft4jException e) {
            finish(s, Finish.ERROR, e.getMessage());
            return;
        }
        int id = s.sampler.next(logits, off, V);
        if (s.sampling.stopAtEos() && eos.contains(id)) { finish(s, Finish.STOP, null); return; }
        s.generated++;
        s.listener.onToken(s, id);
        s.last = id;
        if (s.cancelled != null) finish(s, s.cancelled, null);
        else if (s.generated >= s.sampling.maxNewTokens() || s.cache.length() >= s.cache.capacity()) finish(s, Finish.LENGTH, null);
    }

    private void finish(Sequence s, Finish why, String error) {
        if (s.finished) return;
        s.finished = true;
        s.cache = null;                                        // its memory goes with it
        if (s.adapter != null) {
            lock.lock();
            try {
                Entry e = adapters.get(s.adapter);
                if (e != null) e.refs--;
            } finally { lock.unlock(); }
        }
        try {
            s.listener.onFinish(s, why, error);
        } catch (RuntimeException ignored) {
            // a listener's failure must not stop the scheduler
        }
    }

    private void fail(List<Sequence> seqs, RuntimeException ex) {
        String msg = ex.getMessage() == null ? ex.toString() : ex.getMessage();
        for (Sequence s : seqs) finish(s, Finish.ERROR, msg);
    }

    private String routeOf(Sequence s) {
        if (s.adapter == null) return null;
        Entry e = entry(s.adapter);
        return e == null ? null : e.route;
    }

    private Entry entry(String name) {
        lock.lock();
        try { return adapters.get(name); } finally { lock.unlock(); }
    }

    private void route(String[] routes) {
        for (Linear l : model.linears()) l.setRouting(routes);
    }

    /** Loads e if needed (scheduler thread), first evicting the least recently used idle adapter when at the bound. */
    private void ensureLoaded(Entry e) {
        e.lastUsed = ++useClock;
        if (e.model != null) return;
        while (loadedAdapters() >= limits.maxLoadedAdapters()) {
            Entry victim = null;
            lock.lock();
            try {
                for (Entry o : adapters.values())
                    if (o.model != null && o != e && o.refs == 0 && (victim == null || o.lastUsed < victim.lastUsed)) victim = o;
            } finally { lock.unlock(); }
            if (victim == null)
                throw new Peft4jException("all " + limits.maxLoadedAdapters() + " adapter slots are held by running requests; "
                        + "retry later or start the server with a larger --max-loaded-adapters");
            peft.deleteAdapter(victim.name);
            victim.model = null;
            victim.route = null;
            victim.prompt = null;
        }
        AdapterModel am = peft.loadAdapter(e.dir, e.name);
        peft.disableAdapters();                               // the engine routes rows itself
        if (!am.modulesToSave().isEmpty()) {
            peft.deleteAdapter(e.name);
            throw new Peft4jException("adapter '" + e.name + "' trains " + am.modulesToSave() + " in full (modules_to_save), which "
                    + "replaces base weights for every request; serve it merged instead: peft4j merge --model BASE --adapter "
                    + e.dir + " --out DIR, then peft4j serve --model DIR");
        }
        e.model = am;
        e.prompt = am.virtualPrompt();
        e.route = e.prompt == null ? e.name : null;
    }

    private List<String> adapterNamesLocked() {
        List<String> out = new ArrayList<>();
        for (Entry e : adapters.values()) if (!e.unloading) out.add(e.name);
        return out;
    }
}
