package dev.ppsd.engine.schedule;

import ai.djl.ndarray.NDScope;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.ModelRunner;
import dev.ppsd.engine.model.LlamaModel;

import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Plain autoregressive decoding, the oracle the speculative schedulers must match. Continuous batching:
 * up to {@code maxBatch} sequences decode one token per step together; a finished sequence's cache slot is
 * taken by the next waiting one (after a one-pass prefill of its prompt).
 */
public final class ArScheduler implements Scheduler {
    private final LlamaModel model;
    private final int maxBatch;

    public ArScheduler(LlamaModel model, int maxBatch) {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("batch size must be >= 1 but was " + maxBatch);
        }
        this.model = model;
        this.maxBatch = maxBatch;
    }

    @Override
    public String mode() {
        return "ar";
    }

    @Override
    public void run(List<Sequence> sequences, StopCriteria stop) {
        WorkQueue q = WorkQueue.of(sequences, 0, model.config().maxPositionEmbeddings(), maxBatch);
        Deque<Sequence> waiting = q.waiting();
        int maxLen = q.cacheLen();
        int slots = q.slots();
        ModelRunner all = ModelRunner.of(model, 0, model.config().numHiddenLayers());
        try (KvCache cache = all.newCache(slots, maxLen)) {
            Sequence[] active = new Sequence[slots];
            int[] next = new int[slots]; // token to feed at the next step
            while (true) {
                // admit waiting sequences into free slots: prefill the prompt, sample the first token
                for (int slot = 0; slot < slots; slot++) {
                    while (active[slot] == null && !waiting.isEmpty()) {
                        Sequence s = waiting.poll();
                        s.markStarted();
                        cache.reset(slot);
                        float[] logits = prefill(all, cache, slot, s.promptIds());
                        int tok = s.sample(logits);
                        if (!s.commit(tok, stop)) {
                            active[slot] = s;
                            next[slot] = tok;
                        }
                    }
                }
                List<Integer> rows = new ArrayList<>();
                for (int slot = 0; slot < slots; slot++) {
                    if (active[slot] != null) {
                        rows.add(slot);
                    }
                }
                if (rows.isEmpty()) {
                    return;
                }
                // decode: one token for every active sequence in one forward
                int b = rows.size();
                int[] start = new int[b];
                int[] slotIds = new int[b];
                int[][] tokens = new int[b][1];
                for (int r = 0; r < b; r++) {
                    int slot = rows.get(r);
                    slotIds[r] = slot;
                    start[r] = active[slot].totalLength() - 1;
                    tokens[r][0] = next[slot];
                }
                float[][] logits = step(all, cache, start, slotIds, tokens);
                for (int r = 0; r < b; r++) {
                    int slot = slotIds[r];
                    Sequence s = active[slot];
                    int tok = s.sample(logits[r]);
                    if (s.commit(tok, stop)) {
                        active[slot] = null;
                    } else {
                        next[slot] = tok;
                    }
                }
            }
        }
    }

    /** Runs the whole prompt in one pass and returns the logits of its last position. */
    private static float[] prefill(ModelRunner all, KvCache cache, int slot, int[] prompt) {
        return step(all, cache, new int[] {0}, new int[] {slot}, new int[][] {prompt})[0];
    }

    /** One cached forward of {@code tokens [B][T]}; returns each row's next-token logits. */
    private static float[][] step(ModelRunner all, KvCache cache, int[] start, int[] slots, int[][] tokens) {
        try (NDScope ignored = new NDScope()) {
            AttentionBatch a = all.batch(start, slots, tokens[0].length);
            return all.nextTokenLogits(all.forward(all.embed(tokens), a, cache));
        }
    }
}
