package dev.ppsd.engine.schedule;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.SequenceSource;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.ModelRunner;
import dev.ppsd.engine.model.PrefixStore;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.model.LlamaModel;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Plain autoregressive decoding, the oracle the speculative schedulers must match. Continuous batching:
 * up to {@code maxBatch} sequences decode one token per step together; a finished sequence's cache slot is
 * taken by the next waiting one (after a one-pass prefill of its prompt). The KV cache grows with the longest
 * sequence in flight (prompt + clamped budget).
 */
public final class ArScheduler implements Scheduler {
    private final LlamaModel model;
    private final int maxBatch;
    private final KvBudget budget;
    private final PrefixStore prefix; // null when prefix caching is off

    /** AR with {@code batch_size} slots, its KV caches bounded by {@code kv_cache_mb}, prefix caching as asked. */
    public ArScheduler(LlamaModel model, EngineOptions o) {
        this.model = model;
        this.maxBatch = o.get(Settings.BATCH_SIZE);
        long perPosition = KvBudget.bytesPerPosition(model.config(), model.config().numHiddenLayers(), model.dataType());
        this.budget = KvBudget.of(o, perPosition, maxBatch, model.config().maxPositionEmbeddings());
        this.prefix = o.get(Settings.PREFIX_CACHE) ? new PrefixStore(model.manager(), model.device(),
                budget.prefixBytes(), perPosition * PrefixStore.BLOCK) : null;
    }

    /** Blocks the prefix cache holds now (0 when off). */
    int prefixBlocks() {
        return prefix == null ? 0 : prefix.blocks();
    }

    @Override
    public long[] prefixCacheCounts() {
        return prefix == null ? new long[3] : prefix.counts();
    }

    @Override
    public String refusal(Sequence s) {
        return budget.refusal(s.promptIds().length + s.budget(), maxBatch);
    }

    @Override
    public void close() {
        if (prefix != null) {
            prefix.close();
        }
    }

    @Override
    public String mode() {
        return "ar";
    }

    @Override
    public void run(SequenceSource source, StopCriteria stop) {
        ModelRunner all = ModelRunner.of(model, 0, model.config().numHiddenLayers());
        KvCache cache = null;
        try {
            Sequence[] active = new Sequence[maxBatch];
            int[] next = new int[maxBatch]; // token to feed at the next step
            while (true) {
                // admit: a waiting sequence takes a free slot; prefill its prompt, sample its first token
                for (int slot = 0; slot < maxBatch; slot++) {
                    Sequence s;
                    while (active[slot] == null && (s = source.poll()) != null) {
                        s.markStarted();
                        int need = s.promptIds().length + s.budget(); // <= context
                        if (cache == null) {
                            cache = all.newCache(maxBatch, KvCache.firstLength(need, budget.maxSequence()));
                        }
                        cache.ensureLength(need, budget.maxSequence());
                        cache.reset(slot);
                        float[] logits = prefill(all, cache, slot, s);
                        int tok = s.sample(logits);
                        if (s.commit(tok, stop)) {
                            source.finished(s);
                        } else {
                            active[slot] = s;
                            next[slot] = tok;
                        }
                    }
                }
                List<Integer> rows = new ArrayList<>();
                for (int slot = 0; slot < maxBatch; slot++) {
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
                        source.finished(s);
                    } else {
                        next[slot] = tok;
                    }
                }
            }
        } finally {
            if (cache != null) {
                cache.close();
            }
        }
    }

    /**
     * Runs the prompt in one pass — after the longest prefix the prefix cache holds, copied in — and returns the
     * logits of its last position; the prompt's full blocks then go to the prefix cache.
     */
    private float[] prefill(ModelRunner all, KvCache cache, int slot, Sequence s) {
        int[] prompt = s.promptIds();
        boolean promptLogprobs = PromptLogprobs.wanted(s);
        int reused = 0;
        if (prefix != null && !promptLogprobs) {
            reused = prefix.match(prompt);
            prefix.restore(cache, slot, prompt, reused);
        }
        float[] logits;
        try (NDScope ignored = new NDScope()) {
            AttentionBatch a = all.batch(new int[] {reused}, new int[] {slot}, prompt.length - reused);
            NDArray h = all.forward(all.embed(new int[][] {Arrays.copyOfRange(prompt, reused, prompt.length)}), a,
                    cache);
            if (promptLogprobs) {
                PromptLogprobs.compute(s, all, h);
            }
            logits = all.nextTokenLogits(h)[0];
            if (prefix != null) {
                prefix.save(cache, slot, prompt);
            }
        }
        s.markPrefilled();
        return logits;
    }

    /** One cached forward of {@code tokens [B][T]}; returns each row's next-token logits. */
    private static float[][] step(ModelRunner all, KvCache cache, int[] start, int[] slots, int[][] tokens) {
        try (NDScope ignored = new NDScope()) {
            AttentionBatch a = all.batch(start, slots, tokens[0].length);
            return all.nextTokenLogits(all.forward(all.embed(tokens), a, cache));
        }
    }
}
