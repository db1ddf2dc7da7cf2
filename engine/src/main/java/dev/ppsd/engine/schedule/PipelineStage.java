package dev.ppsd.engine.schedule;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.BatchRows;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.ModelRunner;
import dev.ppsd.engine.model.PrefixStore;
import dev.ppsd.engine.model.Rope;
import dev.ppsd.engine.runtime.Bfloat16;

import java.util.ArrayList;
import java.util.List;

/**
 * One pipeline stage: a block of layers with its KV cache on its own device, run by its own worker thread
 * ({@link #start} / {@link #await}) or, when the coordinator has nothing better to do, on the calling thread
 * ({@link #runHere}). Stage 0 also embeds tokens; the last stage also applies the final norm and LM head; the
 * drafter's host stage also runs the drafter ({@link PipelineDrafter}: the exit head on stage 0, or the SPD head) with
 * its own cache. Every NDArray created in a cycle lives in the cycle's {@link NDScope} except the hand-off states,
 * which the next stage closes, and the states kept for the drafter ({@link InFlight#states}), which their entry
 * closes.
 */
final class PipelineStage implements AutoCloseable {
    final int index;
    final boolean first;
    final boolean last;
    private final NDManager manager;
    private final ModelRunner runner;
    /** The drafter when this stage is its host, else null. */
    private PipelineDrafter drafter;
    /** Depths whose states every entry keeps for the drafter ({@link PipelineDrafter#stateDepths}). */
    private int[] stateDepths = new int[0];
    private final StageWorker worker;
    private final PrefixStore prefix; // null without prefix caching
    private KvCache cache;
    private int cacheAllocations;
    /** Busy time of the last cycle, ms, and its start / end (System.nanoTime). */
    double lastBusyMs;
    /** The part of {@link #lastBusyMs} spent prefilling prompts, ms. */
    double lastPrefillMs;
    long lastStartNanos;
    long lastEndNanos;
    /** Busy time and tokens of cycles that ran only single-token (decode) entries: the per-token cost. */
    double decodeBusyMs;
    long decodeTokens;
    long decodeCycles;

    /** @param prefixBytes what this stage's prefix cache may take; negative: no prefix cache */
    PipelineStage(LlamaModel model, int index, int stages, int from, int to, Device device, long prefixBytes) {
        this.index = index;
        this.first = index == 0;
        this.last = index == stages - 1;
        this.manager = model.manager().newSubManager(device);
        this.runner = ModelRunner.on(model, from, to, device, manager);
        this.worker = new StageWorker("ppsd-stage-" + index, stages);
        long layers = KvBudget.bytesPerPosition(model.config(), to - from, model.dataType());
        this.prefix = prefixBytes >= 0 ? new PrefixStore(manager, device, prefixBytes, layers * PrefixStore.BLOCK)
                : null;
    }

    /** The stage's device, manager and rotary tables, for the drafter it hosts. */
    Device device() {
        return runner.layers().device();
    }

    NDManager manager() {
        return manager;
    }

    Rope rope() {
        return runner.layers().rope();
    }

    /** Makes this stage the drafter's host (null: none); every stage keeps the drafter's {@code stateDepths}. */
    void drafter(PipelineDrafter d, int[] stateDepths) {
        this.drafter = d;
        this.stateDepths = stateDepths.clone();
    }

    /** Whether this cycle's task has work even without entries: the drafter it hosts drafts. */
    boolean drafts() {
        return drafter != null && drafter.drafts();
    }

    /** The longest prefix of {@code prompt} this stage's prefix caches hold (0 without prefix caching). */
    int prefixMatch(int[] prompt) {
        if (prefix == null) {
            return 0;
        }
        int n = prefix.match(prompt);
        return drafter == null ? n : Math.min(n, drafter.prefixMatch(prompt));
    }

    /** This stage's prefix cache counts ({@link PrefixStore#counts}); zeros without one. */
    long[] prefixCounts() {
        return prefix == null ? new long[3] : prefix.counts();
    }

    /** Copies the first {@code length} positions of {@code prompt} into {@code slot} from the prefix caches. */
    void restorePrefix(int slot, int[] prompt, int length) {
        if (prefix != null) {
            prefix.restore(cache, slot, prompt, length);
            if (drafter != null) {
                drafter.restorePrefix(slot, prompt, length);
            }
        }
    }

    /**
     * Starts making this stage's caches hold {@code slots} sequences of {@code length} positions, on the stage's
     * worker: allocated on first use, grown (keeping what they hold) up to {@code cap} when a longer sequence comes.
     * Returns false, starting nothing, when they already hold that many; else {@link #awaitCaches} waits. The stages
     * allocate side by side: on a CPU, touching fresh memory for the first time is most of the cost (about 10 µs a
     * 4 KiB page in the 2-core VM: 0.2 s for the 83 MB of 6 layers of the 97M model at 32 slots × 70 positions).
     */
    boolean startEnsuringCaches(int slots, int length, int cap) {
        worker.checkIdle(); // a task of an interrupted cycle may still run on the caches replaced here
        if (cache != null && cache.maxLen() >= length && (drafter == null || drafter.cacheHolds(length))) {
            return false;
        }
        cacheAllocations++;
        worker.start(() -> {
            if (cache == null) {
                cache = runner.newCache(slots, KvCache.firstLength(length, cap));
            }
            cache.ensureLength(length, cap);
            if (drafter != null) {
                drafter.ensureCache(slots, length, cap);
            }
        });
        return true;
    }

    /** How many times {@link #startEnsuringCaches} made or grew the caches, since creation (tests). */
    int cacheAllocations() {
        return cacheAllocations;
    }

    /** Waits for what {@link #startEnsuringCaches} started; rethrows what it threw. */
    void awaitCaches() {
        worker.await();
    }

    /** The stage's worker thread (tests). */
    StageWorker worker() {
        return worker;
    }

    /** Frees the caches (the run ended: nothing is in flight); the next run allocates them again. */
    void releaseCaches() {
        if (worker.idle()) { // else a task of an interrupted cycle still uses them: they go at close
            closeCaches();
        }
    }

    /** Forgets positions {@code >= length} of {@code slot} in every cache of this stage. */
    void truncate(int slot, int length) {
        KvCache.truncate(slot, length, cache);
        if (drafter != null) {
            drafter.truncate(slot, length);
        }
    }

    void reset(int slot) {
        cache.reset(slot);
        if (drafter != null) {
            drafter.reset(slot);
        }
    }

    /** Starts this cycle's entries on the stage's worker thread; {@link #await} waits for them. */
    void start(List<InFlight> entries) {
        worker.start(() -> runHere(entries));
    }

    void await() {
        worker.await();
    }

    /** Runs this cycle's entries on the calling thread, timed. */
    void runHere(List<InFlight> entries) {
        long t0 = System.nanoTime();
        double drafterPrefillMs = 0;
        try (NDScope ignored = new NDScope()) {
            if (drafter != null) {
                drafterPrefillMs = drafter.draft(); // from what the pipeline held before this cycle
            }
            run(entries);
        }
        lastPrefillMs += drafterPrefillMs;
        lastEndNanos = System.nanoTime();
        lastStartNanos = t0;
        lastBusyMs = (lastEndNanos - t0) / 1e6;
        // a cycle in which the host ran only the drafter (its stage idle after a flush) is not a stage cycle
        if (!entries.isEmpty() && entries.stream().noneMatch(InFlight::isPrefill)) {
            decodeBusyMs += lastBusyMs;
            decodeTokens += entries.size();
            decodeCycles++;
        }
    }

    /**
     * The cycle's entries run as one call, prompts among the single tokens flattened ({@link BatchRows}), but for a
     * prompt whose prompt logprobs are wanted: it runs alone on every stage, since the last needs all its positions
     * together and alone its logprobs do not depend on what else a call holds (a call's row count changes how the
     * linears round in the last bits). What a shared call's prompts cost (the time the controller leaves out of its
     * cycle) is the call's time beyond what its decode rows cost in the stage's cycles without prompts.
     */
    private void run(List<InFlight> entries) {
        List<InFlight> batch = new ArrayList<>();
        lastPrefillMs = 0;
        for (InFlight e : entries) {
            if (e.isPrefill() && PromptLogprobs.wanted(e.lane.seq)) {
                long t0 = System.nanoTime();
                runGroup(List.of(e));
                savePrefix(e);
                lastPrefillMs += (System.nanoTime() - t0) / 1e6;
            } else {
                batch.add(e);
            }
        }
        if (batch.isEmpty()) {
            return;
        }
        // in slot order: a batch of single tokens that holds a run of slots then attends over it in place, no scatter
        batch.sort(java.util.Comparator.comparingInt(e -> e.lane.slot));
        long t0 = System.nanoTime();
        runGroup(batch);
        int decodeRows = 0;
        int promptTokens = 0;
        for (InFlight e : batch) {
            if (e.isPrefill()) {
                promptTokens += e.tokens.length;
                savePrefix(e);
            } else {
                decodeRows++;
            }
        }
        if (promptTokens > 0) {
            double ms = (System.nanoTime() - t0) / 1e6;
            // what the decode rows would have cost alone, at this stage's cost per row in cycles without prompts
            // (before there is one, the rows' share of the call's tokens)
            double decode = decodeTokens > 0 ? decodeBusyMs / decodeTokens * decodeRows
                    : ms * decodeRows / (decodeRows + promptTokens);
            lastPrefillMs += Math.max(0, ms - decode);
        }
    }

    /** After a prompt's prefill: its full blocks go to this stage's prefix cache. */
    private void savePrefix(InFlight e) {
        int[] prompt = e.lane.seq.promptIds();
        if (prefix != null && e.end() == prompt.length) {
            prefix.save(cache, e.lane.slot, prompt);
        }
    }

    /** Runs the block on {@code group}: one call, its entries the rows of {@link BatchRows}. */
    private void runGroup(List<InFlight> group) {
        int b = group.size();
        int[] start = new int[b];
        int[] slots = new int[b];
        int[][] tokens = new int[b][];
        for (int r = 0; r < b; r++) {
            start[r] = group.get(r).start;
            slots[r] = group.get(r).lane.slot;
            tokens[r] = group.get(r).tokens;
        }
        BatchRows rows = new BatchRows(slots, start, tokens);
        NDArray x;
        if (first) {
            x = runner.embed(rows.tokens());
        } else {
            List<NDArray> in = new ArrayList<>();
            for (InFlight e : group) {
                in.add(e.hidden.getDevice().equals(runner.layers().device()) ? e.hidden
                        : Bfloat16.toDevice(e.hidden, runner.layers().device())); // (DJL cannot move bfloat16 itself)
            }
            x = rows.join(in); // the [1, T, D] hand-offs of the previous stage
        }
        AttentionBatch a = rows.attention(runner);
        NDArray[] kept = new NDArray[stateDepths.length];
        NDArray h = runner.forward(x, a, cache, stateDepths, kept);
        group.forEach(InFlight::release); // the previous stage's hand-offs are consumed
        for (int i = 0; i < kept.length; i++) {
            for (int r = 0; kept[i] != null && r < b; r++) {
                // the entry's [1, T, D], kept by the entry for the drafter, past the cycle's scope
                NDArray state = rows.rowsOf(kept[i], r);
                NDScope.unregister(state);
                group.get(r).states[i] = state;
            }
        }
        if (first && drafter != null) {
            drafter.afterBlock(group, h, a, rows::lastOfEach);
        }
        if (last) {
            if (group.size() == 1 && tokens[0].length > 1 && PromptLogprobs.wanted(group.get(0).lane.seq)) {
                PromptLogprobs.compute(group.get(0).lane.seq, runner, h); // a whole prompt (no prefix reused)
            }
            // only the last position of each entry is verified
            float[][] logits = runner.logits(rows.lastOfEach(h));
            for (int r = 0; r < b; r++) {
                group.get(r).logits = logits[r];
            }
        } else {
            for (int r = 0; r < b; r++) {
                // [1, T, D] hand-off, survives the cycle scope
                NDArray out = rows.rowsOf(h, r);
                NDScope.unregister(out);
                group.get(r).hidden = out;
            }
        }
    }

    private void closeCaches() {
        if (cache != null) {
            cache.close();
        }
        cache = null;
        if (drafter != null) {
            drafter.releaseCache();
        }
    }

    @Override
    public void close() {
        worker.close();
        closeCaches();
        if (prefix != null) {
            prefix.close();
        }
        if (drafter != null) {
            drafter.close();
        }
        manager.close();
    }
}
