package dev.ppsd.engine.schedule;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.DecoderLayer;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.LayerStack;
import dev.ppsd.engine.model.LlamaModel;

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
    private final LlamaModel model;
    private final NDManager manager;
    private final LayerStack layers;
    private final NDArray embed; // stage 0 only
    private final ExitHead head; // stage 0 only, null when not speculating
    private final LayerStack headStack; // trained head's layer
    private final NDArray finalNorm; // last stage only
    private final NDArray lmHead; // last stage only
    private final StageWorker worker;
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

    PipelineStage(LlamaModel model, int index, int stages, int from, int to, Device device, ExitHead exitHead) {
        this.index = index;
        this.first = index == 0;
        this.last = index == stages - 1;
        this.model = model;
        this.manager = model.manager().newSubManager(device);
        this.layers = model.stackOn(from, to, device, manager);
        this.embed = first ? copy(model.weights().embed(), device) : null;
        this.head = first && exitHead != null ? exitHead.onDevice(device, manager) : null;
        this.headStack = head != null && head.trained() ? head.stack(layers.rope()) : null;
        this.finalNorm = last ? copy(model.weights().finalNorm(), device) : null;
        this.lmHead = last ? copy(model.weights().lmHead(), device) : null;
        this.worker = new StageWorker("ppsd-stage-" + index, stages);
    }

    private NDArray copy(NDArray a, Device device) {
        if (a.getDevice().equals(device)) {
            return a;
        }
        NDArray c = a.toDevice(device, true);
        c.attach(manager);
        return c;
    }

    LayerStack layers() {
        return layers;
    }

    /** The stage's worker thread (tests). */
    StageWorker worker() {
        return worker;
    }

    /** (Re)allocates this stage's caches for {@code slots} sequences of up to {@code maxLen} positions. */
    void allocate(int slots, int maxLen) {
        worker.checkIdle(); // a task of an interrupted cycle may still run on the caches closed here
        closeCaches();
        cache = layers.newCache(manager, slots, maxLen);
        headCache = headStack != null ? headStack.newCache(manager, slots, maxLen) : null;
    }

    /** Forgets positions {@code >= length} of {@code slot} in every cache of this stage. */
    void truncate(int slot, int length) {
        cache.truncate(slot, length);
        if (headCache != null) {
            headCache.truncate(slot, length);
        }
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
                lastPrefillMs += (System.nanoTime() - t0) / 1e6;
            }
        }
        if (!singles.isEmpty()) {
            // in slot order: a batch that holds a run of slots then attends over it in place, with no scatter
            singles.sort(java.util.Comparator.comparingInt(e -> e.lane.slot));
            runGroup(singles);
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
            x = LlamaModel.embed(embed, manager, tokens); // [B, T, D]
        } else {
            NDList in = new NDList();
            for (InFlight e : group) {
                in.add(e.hidden.toDevice(layers.device(), false)); // [1, T, D] from the previous stage
            }
            x = b == 1 ? in.get(0) : ai.djl.ndarray.NDArrays.concat(in, 0); // [B, T, D]
        }
        AttentionBatch a = layers.batch(manager, start, slots, t);
        NDArray h = layers.forward(x, a, cache);
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
            split(group, LlamaModel.rows(DecoderLayer.lmHead(lastPos, finalNorm, lmHead, model.config().rmsNormEps())));
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
        manager.close();
    }
}
