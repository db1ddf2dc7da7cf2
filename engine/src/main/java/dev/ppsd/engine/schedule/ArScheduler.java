package dev.ppsd.engine.schedule;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.SequenceSource;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.BatchRows;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.ModelRunner;
import dev.ppsd.engine.model.PrefixStore;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.model.LlamaModel;

import java.util.Arrays;

/**
 * Plain autoregressive decoding, the oracle the speculative schedulers must match. Continuous batching:
 * up to {@code maxBatch} sequences decode one token per step together; a finished sequence's cache slot is
 * taken by the next waiting one, whose prompt runs in the next step with the others' tokens ({@link BatchRows}).
 * The KV cache grows with the longest sequence in flight (prompt + clamped budget).
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
            // what each slot feeds at the next step, from position at[slot]: the prompt past its reused prefix for a
            // sequence just admitted (prefilling), else the token sampled last
            int[][] feed = new int[maxBatch][];
            int[] at = new int[maxBatch];
            boolean[] prefilling = new boolean[maxBatch];
            while (true) {
                // admit: a waiting sequence takes a free slot; its prompt runs in the next step
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
                        if (PromptLogprobs.wanted(s)) {
                            // its prompt logprobs need all its positions together: a pass of its own, now
                            int tok = s.sample(prefillAlone(all, cache, slot, s));
                            if (s.commit(tok, stop)) {
                                source.finished(s);
                                continue;
                            }
                            feed[slot] = new int[] {tok};
                            at[slot] = s.totalLength() - 1;
                        } else {
                            int[] prompt = s.promptIds();
                            int reused = 0;
                            if (prefix != null) {
                                reused = prefix.match(prompt);
                                prefix.restore(cache, slot, prompt, reused);
                            }
                            feed[slot] = Arrays.copyOfRange(prompt, reused, prompt.length);
                            at[slot] = reused;
                            prefilling[slot] = true;
                        }
                        active[slot] = s;
                    }
                }
                // one forward for every active sequence: its next token, or its prompt (prompts among the tokens
                // flattened: BatchRows)
                int b = 0;
                for (Sequence s : active) {
                    b += s != null ? 1 : 0;
                }
                if (b == 0) {
                    return;
                }
                int[] slots = new int[b];
                int[] start = new int[b];
                int[][] tokens = new int[b][];
                for (int slot = 0, r = 0; slot < maxBatch; slot++) {
                    if (active[slot] != null) {
                        slots[r] = slot;
                        start[r] = at[slot];
                        tokens[r++] = feed[slot];
                    }
                }
                float[][] logits = step(all, cache, slots, start, tokens);
                for (int r = 0; r < b; r++) {
                    int slot = slots[r];
                    Sequence s = active[slot];
                    if (prefilling[slot]) {
                        prefilling[slot] = false;
                        if (prefix != null) {
                            prefix.save(cache, slot, s.promptIds());
                        }
                        s.markPrefilled();
                    }
                    int tok = s.sample(logits[r]);
                    if (s.commit(tok, stop)) {
                        active[slot] = null;
                        source.finished(s);
                    } else {
                        feed[slot] = new int[] {tok};
                        at[slot] = s.totalLength() - 1;
                    }
                }
            }
        } finally {
            if (cache != null) {
                cache.close();
            }
        }
    }

    /** Runs a prompt whose prompt logprobs are wanted in one pass, from position 0; returns its last logits. */
    private float[] prefillAlone(ModelRunner all, KvCache cache, int slot, Sequence s) {
        int[] prompt = s.promptIds();
        float[] logits;
        try (NDScope ignored = new NDScope()) {
            AttentionBatch a = all.batch(new int[] {0}, new int[] {slot}, prompt.length);
            NDArray h = all.forward(all.embed(new int[][] {prompt}), a, cache);
            PromptLogprobs.compute(s, all, h);
            logits = all.nextTokenLogits(h)[0];
            if (prefix != null) {
                prefix.save(cache, slot, prompt);
            }
        }
        s.markPrefilled();
        return logits;
    }

    /** One cached forward of each slot's {@code tokens} from {@code start} ({@link BatchRows}); each one's logits. */
    private static float[][] step(ModelRunner all, KvCache cache, int[] slots, int[] start, int[][] tokens) {
        try (NDScope ignored = new NDScope()) {
            BatchRows rows = new BatchRows(slots, start, tokens);
            return all.logits(rows.lastOfEach(all.forward(all.embed(rows.tokens()), rows.attention(all),
                    cache)));
        }
    }
}
