package dev.ppsd.engine.schedule;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.LayerStack;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.ModelRunner;
import dev.ppsd.engine.model.PrefixStore;
import dev.ppsd.engine.runtime.Bfloat16;

import java.util.ArrayList;
import java.util.List;

/**
 * One pipeline stage: a block of layers with its KV cache on its own device, run by its own worker thread
 * ({@link #start} / {@link #await}) or, when the coordinator has nothing better to do, on the calling thread
 * ({@link #runHere}). Stage 0 also embeds tokens and runs the exit head (the drafter) with its own cache; the
 * last stage also applies the final norm and LM head. Every NDArray created in a cycle lives in the cycle's
 * {@link NDScope} except the hand-off states, which the next stage closes.
 */
final class PipelineStage implements AutoCloseable {
    final int index;
    final boolean first;
    final boolean last;
    private final NDManager manager;
    private final ModelRunner runner;
    private final ExitHead head; // stage 0 only, null when not speculating
    private final LayerStack headStack; // trained head's layer
    private final StageWorker worker;
    private final PrefixStore prefix; // null without prefix caching
    private final PrefixStore headPrefix; // the trained head's cache; null without one
    private KvCache cache;
    private KvCache headCache;
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
    PipelineStage(LlamaModel model, int index, int stages, int from, int to, Device device, ExitHead exitHead,
            long prefixBytes) {
        this.index = index;
        this.first = index == 0;
        this.last = index == stages - 1;
        this.manager = model.manager().newSubManager(device);
        this.runner = ModelRunner.on(model, from, to, device, manager);
        this.head = first && exitHead != null ? exitHead.onDevice(device, manager) : null;
        this.headStack = head != null && head.trained() ? head.stack(runner.layers().rope()) : null;
        this.worker = new StageWorker("ppsd-stage-" + index, stages);
        if (prefixBytes >= 0) {
            long layers = KvBudget.bytesPerPosition(model.config(), to - from, model.dataType());
            long head = headStack != null ? KvBudget.bytesPerPosition(model.config(), 1, model.dataType()) : 0;
            // the head's cache gets its share of the stage's bytes
            this.prefix = new PrefixStore(manager, device, prefixBytes * layers / (layers + head),
                    layers * PrefixStore.BLOCK);
            this.headPrefix = headStack != null ? new PrefixStore(manager, device, prefixBytes * head / (layers + head),
                    head * PrefixStore.BLOCK) : null;
        } else {
            this.prefix = null;
            this.headPrefix = null;
        }
    }

    /** The longest prefix of {@code prompt} this stage's prefix caches hold (0 without prefix caching). */
    int prefixMatch(int[] prompt) {
        if (prefix == null) {
            return 0;
        }
        int n = prefix.match(prompt);
        return headPrefix == null ? n : Math.min(n, headPrefix.match(prompt));
    }

    /** This stage's prefix cache counts ({@link PrefixStore#counts}); zeros without one. */
    long[] prefixCounts() {
        return prefix == null ? new long[3] : prefix.counts();
    }

    /** Copies the first {@code length} positions of {@code prompt} into {@code slot} from the prefix caches. */
    void restorePrefix(int slot, int[] prompt, int length) {
        if (prefix != null && length > 0) {
            prefix.restore(cache, slot, prompt, length);
            if (headPrefix != null) {
                headPrefix.restore(headCache, slot, prompt, length);
            }
        }
    }

    /**
     * Makes this stage's caches hold {@code slots} sequences of {@code length} positions: allocated on first use,
     * grown (keeping what they hold) up to {@code cap} when a longer sequence comes.
     */
    void ensureCaches(int slots, int length, int cap) {
        worker.checkIdle(); // a task of an interrupted cycle may still run on the caches replaced here
        if (cache == null) {
            cache = runner.newCache(slots, length);
            headCache = headStack != null ? headStack.newCache(manager, slots, length) : null;
        }
        cache.ensureLength(length, cap);
        if (headCache != null) {
            headCache.ensureLength(length, cap);
        }
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
        KvCache.truncate(slot, length, cache, headCache);
    }

    void reset(int slot) {
        cache.reset(slot);
        if (headCache != null) {
            headCache.reset(slot);
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
        try (NDScope ignored = new NDScope()) {
            run(entries);
        }
        lastEndNanos = System.nanoTime();
        lastStartNanos = t0;
        lastBusyMs = (lastEndNanos - t0) / 1e6;
        if (entries.stream().allMatch(e -> e.tokens.length == 1)) {
            decodeBusyMs += lastBusyMs;
            decodeTokens += entries.size();
            decodeCycles++;
        }
    }

    /** Single-token entries of different sequences run as one batch; a prefill runs alone. */
    private void run(List<InFlight> entries) {
        List<InFlight> singles = new ArrayList<>();
        lastPrefillMs = 0;
        for (InFlight e : entries) {
            if (e.tokens.length == 1) {
                singles.add(e);
            } else {
                long t0 = System.nanoTime();
                runGroup(List.of(e));
                savePrefix(e);
                lastPrefillMs += (System.nanoTime() - t0) / 1e6;
            }
        }
        if (!singles.isEmpty()) {
            // in slot order: a batch that holds a run of slots then attends over it in place, with no scatter
            singles.sort(java.util.Comparator.comparingInt(e -> e.lane.slot));
            runGroup(singles);
        }
    }

    /** After a prompt's prefill: its full blocks go to this stage's prefix caches. */
    private void savePrefix(InFlight e) {
        int[] prompt = e.lane.seq.promptIds();
        if (prefix != null && e.end() == prompt.length) {
            prefix.save(cache, e.lane.slot, prompt);
            if (headPrefix != null) {
                headPrefix.save(headCache, e.lane.slot, prompt);
            }
        }
    }

    private void runGroup(List<InFlight> group) {
        int b = group.size();
        int t = group.get(0).tokens.length;
        int[] start = new int[b];
        int[] slots = new int[b];
        for (int r = 0; r < b; r++) {
            start[r] = group.get(r).start;
            slots[r] = group.get(r).lane.slot;
        }
        NDArray x;
        if (first) {
            int[][] tokens = new int[b][];
            for (int r = 0; r < b; r++) {
                tokens[r] = group.get(r).tokens;
            }
            x = runner.embed(tokens); // [B, T, D]
        } else {
            NDList in = new NDList();
            for (InFlight e : group) {
                NDArray here = e.hidden.getDevice().equals(runner.layers().device()) ? e.hidden
                        : Bfloat16.toDevice(e.hidden, runner.layers().device()); // (DJL cannot move bfloat16 itself)
                in.add(here); // [1, T, D] from the previous stage
            }
            x = b == 1 ? in.get(0) : ai.djl.ndarray.NDArrays.concat(in, 0); // [B, T, D]
        }
        AttentionBatch a = runner.batch(start, slots, t);
        NDArray h = runner.forward(x, a, cache);
        group.forEach(InFlight::release); // the previous stage's hand-offs are consumed
        // only the last position of each entry matters for drafting / verifying: [B, T, D] -> [B, 1, D]
        NDArray lastPos = h.get(":, -1:, :");
        if (first && head != null) {
            // a trained head's layer always runs (its cache must hold every position); the LM-head
            // projection only when an entry of the group drafts
            NDArray state = head.trained() ? head.advance(h, a, headCache).get(":, -1:, :") : lastPos;
            if (group.stream().anyMatch(e -> e.wantDraft)) {
                split(group, LlamaModel.rows(head.project(state)));
            }
        }
        if (last) {
            if (group.size() == 1 && t > 1 && PromptLogprobs.wanted(group.get(0).lane.seq)) {
                PromptLogprobs.compute(group.get(0).lane.seq, runner, h); // a whole prompt (no prefix reused)
            }
            split(group, runner.nextTokenLogits(lastPos));
        } else {
            for (int r = 0; r < b; r++) {
                // [1, T, D] hand-off, survives the cycle scope
                NDArray out = h.get(new ai.djl.ndarray.index.NDIndex().addSliceDim(r, r + 1L));
                NDScope.unregister(out);
                group.get(r).hidden = out;
            }
        }
    }

    private static void split(List<InFlight> group, float[][] rows) {
        for (int r = 0; r < group.size(); r++) {
            group.get(r).logits = rows[r];
        }
    }

    private void closeCaches() {
        if (cache != null) {
            cache.close();
        }
        if (headCache != null) {
            headCache.close();
        }
        cache = null;
        headCache = null;
    }

    @Override
    public void close() {
        worker.close();
        closeCaches();
        if (prefix != null) {
            prefix.close();
        }
        if (headPrefix != null) {
            headPrefix.close();
        }
        manager.close();
    }
}
