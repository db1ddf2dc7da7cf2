package dev.ppsd.engine.schedule;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.ppsd.engine.decode.DraftProposer;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.SequenceSource;
import dev.ppsd.engine.decode.SpecMetrics;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.decode.Verifier;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.LayerStack;
import dev.ppsd.engine.model.ModelRunner;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.settings.Settings;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * EESD, the draft-then-verify baseline: per round, draft γ tokens through layers {@code [0, E)} and the exit
 * head, then verify them in one pass of layers {@code [E, N)} over their stored layer-E states (the
 * exit-query cache: layers below E are not recomputed), commit the accepted prefix plus one target token
 * (correction, or bonus when all drafts passed) and truncate every KV cache to the committed length.
 * γ is fixed, or chosen per round by Thompson sampling ({@link DraftLengthPolicy}). Runs on the calling
 * thread, one sequence at a time.
 */
public final class EesdScheduler implements Scheduler {
    private final LlamaModel model;
    private final ExitHead head;
    private final ModelRunner lower;
    private final ModelRunner upper;
    private final LayerStack headStack;
    private final String gamma;

    private final KvBudget budget;

    public EesdScheduler(LlamaModel model, ExitHead head, EngineOptions o) {
        this.model = model;
        this.head = head;
        int e = head.exitLayer();
        this.lower = ModelRunner.of(model, 0, e);
        this.upper = ModelRunner.of(model, e, model.config().numHiddenLayers());
        this.headStack = head.trained() ? head.stack(model.rope()) : null;
        this.gamma = o.get(Settings.GAMMA);
        long perPosition = KvBudget.bytesPerPosition(model.config(), model.config().numHiddenLayers()
                + (head.trained() ? 1 : 0), model.dataType());
        this.budget = KvBudget.of(o, perPosition, 1, model.config().maxPositionEmbeddings() + LOOKAHEAD);
    }

    @Override
    public String mode() {
        return "eesd";
    }

    /** Positions past the committed ones a round may write: the drafts and the bonus state. */
    private static final int LOOKAHEAD = DraftLengthPolicy.MAX_GAMMA + 2;

    @Override
    public String refusal(Sequence s) {
        return budget.refusal(s.promptIds().length + s.budget() + LOOKAHEAD, 1);
    }

    @Override
    public void run(SequenceSource source, StopCriteria stop) {
        Sequence s;
        while ((s = source.poll()) != null) {
            decode(s, stop);
            source.finished(s);
        }
    }

    private void decode(Sequence seq, StopCriteria stop) {
        seq.markStarted();
        NDManager m = model.manager();
        int maxLen = Math.min(model.config().maxPositionEmbeddings(),
                seq.promptIds().length + seq.budget() + LOOKAHEAD);
        DraftLengthPolicy policy = DraftLengthPolicy.of(gamma, (double) head.exitLayer()
                / model.config().numHiddenLayers(), new SplittableRandom(seq.params().get(Settings.SEED) ^ 0x9E3779B97F4A7C15L));
        long proposed = 0;
        long accepted = 0;
        long rounds = 0;
        long flushes = 0;
        try (KvCache lowCache = lower.newCache(1, maxLen);
                KvCache highCache = upper.newCache(1, maxLen);
                KvCache headCache = headStack == null ? null : headStack.newCache(m, 1, maxLen)) {
            // prefill: the prompt through every layer (and the exit head's own layer); sample the first token
            int[] prompt = seq.promptIds();
            int pending;
            try (NDScope ignored = new NDScope()) {
                AttentionBatch a = lower.batch(new int[] {0}, new int[] {0}, prompt.length);
                NDArray hE = lower.forward(lower.embed(new int[][] {prompt}), a, lowCache);
                if (headStack != null) {
                    head.advance(hE, a, headCache); // the trained head's cache holds every prompt position
                }
                NDArray h = upper.forward(hE, a, highCache);
                if (PromptLogprobs.wanted(seq)) {
                    PromptLogprobs.compute(seq, upper, h);
                }
                float[] target = upper.nextTokenLogits(h)[0];
                pending = seq.sample(target);
            }
            seq.markPrefilled();
            if (seq.commit(pending, stop)) {
                return;
            }
            while (true) {
                rounds++;
                int pos = seq.totalLength() - 1; // position of the pending (committed, unprocessed) token
                int g = Math.max(1, Math.min(policy.next(), maxLen - pos - 2));
                int[] drafts = new int[g];
                float[][] qs = new float[g][];
                float[][] targets;
                try (NDScope ignored = new NDScope()) {
                    // draft: g tokens autoregressively through [0, E) + exit head, keeping each layer-E state
                    NDList states = new NDList();
                    int x = pending;
                    for (int i = 0; i <= g; i++) {
                        AttentionBatch a = lower.batch(new int[] {pos + i}, new int[] {0}, 1);
                        NDArray hE = lower.forward(lower.embed(new int[][] {{x}}), a, lowCache);
                        states.add(hE);
                        NDArray logits = head.logits(hE, a, headCache);
                        if (i == g) {
                            break; // the last draft only needs its layer-E state (for the bonus target)
                        }
                        DraftProposer.Draft d = seq.propose(logits.toFloatArray(), Arrays.copyOf(drafts, i));
                        qs[i] = d.q();
                        drafts[i] = d.token();
                        x = drafts[i];
                    }
                    // verify: one pass of [E, N) over the stored layer-E states of positions pos..pos+g
                    NDArray hE = NDArrays.concat(states, 1); // g+1 x [1, 1, D] -> [1, g+1, D]
                    AttentionBatch a = upper.batch(new int[] {pos}, new int[] {0}, g + 1);
                    targets = upper.logits(upper.forward(hE, a, highCache)); // [1, g+1, D] -> [g+1][V]
                }
                // accept the longest prefix, then one target token (correction or bonus)
                int ok = 0;
                int next = -1;
                for (int i = 0; i < g; i++) {
                    proposed++;
                    // drafts 0..i-1 are committed by now: the target at i follows committed tokens only
                    Verifier.Verdict verdict = seq.verify(drafts[i], targets[i], qs[i], new int[0]);
                    if (!verdict.accepted()) {
                        next = verdict.token(); // correction
                        flushes++;
                        break;
                    }
                    ok++;
                    accepted++;
                    if (seq.commit(drafts[i], stop)) {
                        finish(seq, proposed, accepted, rounds, flushes);
                        return;
                    }
                }
                policy.observe(ok, ok < g);
                if (next < 0) {
                    next = seq.sample(targets[g]); // bonus
                }
                // truncate every KV cache to the committed, processed prefix: positions <= pos + ok
                KvCache.truncate(0, pos + ok + 1, lowCache, highCache, headCache);
                if (seq.commit(next, stop)) {
                    finish(seq, proposed, accepted, rounds, flushes);
                    return;
                }
                pending = next;
            }
        }
    }

    private static void finish(Sequence seq, long proposed, long accepted, long rounds, long flushes) {
        seq.setSpec(new SpecMetrics(proposed, accepted, rounds, flushes, new double[0], new double[0]));
    }
}
