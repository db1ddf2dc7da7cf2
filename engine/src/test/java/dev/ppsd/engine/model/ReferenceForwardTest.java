package dev.ppsd.engine.model;

import dev.ppsd.engine.checkpoint.Safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.ppsd.engine.runtime.DjlRuntime;
import dev.ppsd.engine.runtime.PackedLinear;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Compares the DJL decoder ({@link LlamaModel}, {@link LayerStack}, {@link KvCache}) with the scalar oracle
 * {@link ReferenceLlama} on small random models, at every prompt position and every decode step.
 */
class ReferenceForwardTest {
    /**
     * Max abs logit difference allowed. The DJL path computes in float32 (matmuls accumulate ~64-128 products,
     * a few layers, logits of magnitude ~10), the reference accumulates in double from the same float weights;
     * float32 rounding gives differences of order 1e-6 relative, i.e. ~1e-5 absolute on these logits. 1e-4
     * leaves headroom while any convention error (RoPE layout, GQA mapping, norm weights, masking, cache
     * offsets) moves logits by > 1e-2 (checked below for each case via {@link ReferenceLlama.Variant}).
     */
    static final double TOL = 1e-4;
    static final int PROMPT = 7;
    static final int DECODE = 50;

    @TempDir
    Path tmp;

    @BeforeAll
    static void init() {
        DjlRuntime.init();
    }

    // ------------------------------------------------------------------ model files

    /** A config with rms eps 1e-5, a short-period RoPE base (theta 500, so positions matter), bos 0, eos [1]. */
    static LlamaConfig config(int hidden, int inter, int layers, int heads, int kvHeads, int headDim, int vocab,
            int maxPos, boolean tied) {
        return new LlamaConfig(hidden, inter, layers, heads, kvHeads, headDim, 1e-5f, 500f, vocab, maxPos, tied, 0,
                List.of(1));
    }

    /**
     * Random weights by HF name. Starts from {@link LlamaWeights#random} (names, shapes, seeding) and rescales:
     * its std 0.02 and all-ones norms give near-uniform attention and flat logits, where a wrong RoPE layout or
     * ignored norm weight would hardly show. Here q/k give attention scores of order 1, every other projection
     * keeps unit variance, and norm weights are 1 + N(0, 0.3^2).
     */
    static Map<String, Safetensors.Tensor> randomTensors(LlamaConfig cfg, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed ^ 0x5DEECE66DL);
        Map<String, Safetensors.Tensor> out = new LinkedHashMap<>();
        try (NDManager m = NDManager.newBaseManager()) {
            LlamaWeights w = LlamaWeights.random(cfg, m, seed);
            for (Map.Entry<String, NDArray> e : w.named(cfg.tieWordEmbeddings()).entrySet()) {
                String name = e.getKey();
                long[] shape = e.getValue().getShape().getShape();
                float[] v = e.getValue().toFloatArray();
                if (shape.length == 1) { // a norm weight
                    for (int i = 0; i < v.length; i++) {
                        v[i] = (float) (1.0 + 0.3 * gaussian(rnd));
                    }
                } else {
                    double in = shape[1];
                    double target;
                    if (name.equals(LlamaWeights.EMBED)) {
                        target = 0.5;
                    } else if (name.equals(LlamaWeights.LM_HEAD)) {
                        target = 3.0 / Math.sqrt(in);
                    } else if (name.endsWith("q_proj.weight") || name.endsWith("k_proj.weight")) {
                        target = Math.sqrt(1.5 / in) * Math.pow(in / cfg.headDim(), 0.25);
                    } else {
                        target = 1.0 / Math.sqrt(in);
                    }
                    scaleToStd(v, target);
                }
                out.put(name, new Safetensors.Tensor(v, shape));
            }
        }
        return out;
    }

    /** Writes config.json and model.safetensors (in {@code dtype}) for random weights. */
    static Map<String, Safetensors.Tensor> writeModel(Path dir, LlamaConfig cfg, long seed, String dtype)
            throws IOException {
        Map<String, Safetensors.Tensor> t = randomTensors(cfg, seed);
        cfg.save(dir);
        Safetensors.write(dir.resolve("model.safetensors"), t, dtype);
        return t;
    }

    private static void scaleToStd(float[] v, double target) {
        double ss = 0;
        for (float x : v) {
            ss += (double) x * x;
        }
        double f = target / Math.sqrt(ss / v.length);
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (v[i] * f);
        }
    }

    private static double gaussian(SplittableRandom r) {
        return Math.sqrt(-2 * Math.log(1.0 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble());
    }

    static int[] randomTokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = r.nextInt(vocab);
        }
        return t;
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    static double maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length, "logit vector lengths");
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs((double) a[i] - b[i]));
        }
        return m;
    }

    // ------------------------------------------------------------------ prompt + greedy decode

    /** Result of one prompt + decode comparison: the fed tokens and the largest difference seen. */
    record Run(int[] tokens, double maxDiff, List<float[]> refLogits) {
    }

    /**
     * Prefills a {@link #PROMPT}-token prompt in one DJL call, then decodes {@link #DECODE} greedy tokens one call
     * each; the reference runs the same tokens. Both are fed the reference's argmax, so a near-tie cannot make
     * them diverge; the DJL argmax must agree unless the top two logits are within tolerance.
     */
    private Run promptAndDecode(Path dir, long seed, String label) throws IOException {
        return promptAndDecode(LlamaModel.load(dir), dir, seed, label);
    }

    /** As {@link #promptAndDecode(Path, long, String)} on {@code loaded}, a model of {@code dir}, closed after. */
    private Run promptAndDecode(LlamaModel loaded, Path dir, long seed, String label) throws IOException {
        ReferenceLlama ref = ReferenceLlama.load(dir);
        List<float[]> refLogits = new ArrayList<>();
        List<Integer> fed = new ArrayList<>();
        double worst = 0;
        try (LlamaModel model = loaded; KvCache cache = model.newCache(1, 128)) {
            int[] prompt = randomTokens(PROMPT, ref.vocab, seed);
            float[][] got = model.forwardLogits(cache, 0, prompt, 0);
            float[][] want = ref.prefill(prompt);
            for (int i = 0; i < PROMPT; i++) {
                fed.add(prompt[i]);
                worst = Math.max(worst, compare(label + " prompt pos " + i, want[i], got[i]));
                refLogits.add(want[i]);
            }
            float[] last = want[PROMPT - 1];
            float[] lastGot = got[PROMPT - 1];
            for (int s = 0; s < DECODE; s++) {
                int tok = argmax(last);
                checkArgmax(label + " step " + s, last, argmax(lastGot));
                int pos = PROMPT + s;
                lastGot = model.forwardLogits(cache, 0, new int[] {tok}, pos)[0];
                last = ref.step(tok);
                fed.add(tok);
                refLogits.add(last);
                worst = Math.max(worst, compare(label + " decode pos " + pos, last, lastGot));
            }
            assertEquals(PROMPT + DECODE, cache.length(0, 0), "cache length after decoding");
        }
        System.out.printf("[ReferenceForwardTest] %-28s max |logit diff| = %.3e over %d positions%n", label, worst,
                PROMPT + DECODE);
        return new Run(fed.stream().mapToInt(Integer::intValue).toArray(), worst, refLogits);
    }

    private static double compare(String where, float[] want, float[] got) {
        double d = maxAbsDiff(want, got);
        assertTrue(d <= TOL, where + ": max |logit diff| " + d + " > " + TOL);
        return d;
    }

    private static void checkArgmax(String where, float[] ref, int gotArgmax) {
        int want = argmax(ref);
        if (gotArgmax != want) {
            assertTrue(ref[want] - ref[gotArgmax] <= 2 * TOL,
                    where + ": DJL argmax " + gotArgmax + " but reference argmax " + want + " (gap "
                            + (ref[want] - ref[gotArgmax]) + ")");
        }
    }

    /**
     * Shows the comparison can fail: the logits vary along the run by far more than the tolerance, and each
     * deliberate convention error in the reference moves them by more than 100x the tolerance on the same tokens.
     */
    private static void assertSensitive(Path dir, Run run, ReferenceLlama.Variant... variants) throws IOException {
        double spread = 0;
        for (float[] l : run.refLogits()) {
            spread = Math.max(spread, maxAbsDiff(l, run.refLogits().get(0)));
        }
        assertTrue(spread > 100 * TOL, "logits hardly vary across positions: " + spread);
        StringBuilder sens = new StringBuilder();
        for (ReferenceLlama.Variant v : variants) {
            ReferenceLlama wrong = ReferenceLlama.load(dir, v);
            double d = 0;
            for (int i = 0; i < run.tokens().length; i++) {
                d = Math.max(d, maxAbsDiff(run.refLogits().get(i), wrong.step(run.tokens()[i])));
            }
            assertTrue(d > 100 * TOL, "variant " + v + " differs by only " + d + ": the test could not catch it");
            sens.append(String.format(" %s=%.2f", v, d));
        }
        System.out.printf("[ReferenceForwardTest]   logit spread %.2f; deliberate bugs move logits by:%s%n", spread,
                sens);
    }

    private static final ReferenceLlama.Variant[] COMMON = {ReferenceLlama.Variant.NO_ROPE,
            ReferenceLlama.Variant.INTERLEAVED_ROPE, ReferenceLlama.Variant.NORM_WEIGHTS_IGNORED};

    // ------------------------------------------------------------------ cases

    @Test
    void mhaUntied() throws IOException {
        LlamaConfig cfg = config(64, 128, 2, 4, 4, 16, 96, 128, false);
        writeModel(tmp, cfg, 11, "F32");
        Run run = promptAndDecode(tmp, 101, "MHA untied F32");
        assertSensitive(tmp, run, COMMON);
    }

    @Test
    void gqaTwoKvHeadsTied() throws IOException {
        LlamaConfig cfg = config(64, 128, 2, 4, 2, 16, 96, 128, true);
        writeModel(tmp, cfg, 12, "F32");
        Run run = promptAndDecode(tmp, 102, "GQA 4q/2kv tied F32");
        assertSensitive(tmp, run, ReferenceLlama.Variant.NO_ROPE, ReferenceLlama.Variant.INTERLEAVED_ROPE,
                ReferenceLlama.Variant.NORM_WEIGHTS_IGNORED, ReferenceLlama.Variant.GQA_MODULO);
    }

    @Test
    void gqaOneKvHeadTied() throws IOException {
        LlamaConfig cfg = config(64, 128, 2, 4, 1, 16, 96, 128, true);
        writeModel(tmp, cfg, 13, "F32");
        Run run = promptAndDecode(tmp, 103, "MQA 4q/1kv tied F32");
        assertSensitive(tmp, run, COMMON);
    }

    @Test
    void explicitHeadDimDifferentFromHiddenOverHeads() throws IOException {
        // head_dim 16 while hidden/heads = 48/4 = 12: q is [64, 48], o is [48, 64]
        LlamaConfig cfg = config(48, 96, 2, 4, 2, 16, 80, 128, false);
        writeModel(tmp, cfg, 14, "F32");
        Run run = promptAndDecode(tmp, 104, "head_dim 16 != 48/4");
        assertSensitive(tmp, run, ReferenceLlama.Variant.NO_ROPE, ReferenceLlama.Variant.INTERLEAVED_ROPE,
                ReferenceLlama.Variant.GQA_MODULO);
    }

    @Test
    void f16File() throws IOException {
        LlamaConfig cfg = config(64, 128, 2, 4, 2, 16, 96, 128, false);
        writeModel(tmp, cfg, 15, "F16");
        try (Safetensors.Reader r = Safetensors.open(tmp.resolve("model.safetensors"))) {
            assertEquals("F16", r.tensors().get(LlamaWeights.EMBED).dtype());
        }
        Run run = promptAndDecode(tmp, 105, "GQA untied F16 file");
        assertSensitive(tmp, run, COMMON);
    }

    @Test
    void bf16File() throws IOException {
        LlamaConfig cfg = config(64, 128, 2, 4, 2, 16, 96, 128, true);
        writeModel(tmp, cfg, 16, "BF16");
        Run run = promptAndDecode(tmp, 106, "GQA tied BF16 file");
        assertSensitive(tmp, run, COMMON);
    }

    /**
     * Loaded for inference on a CPU ({@code LlamaModel.load(dir, cpu, "float32", false)}, as an engine loads it),
     * the projections of at least {@link PackedLinear#MIN_FLOAT32_ELEMENTS} are packed for oneDNN (q/k/v stacked, o,
     * gate, up, down and the untied LM head here): the packed linears compute what the reference does.
     */
    @Test
    void packedProjections() throws IOException {
        LlamaConfig cfg = config(512, 1024, 2, 8, 4, 64, 512, 128, false);
        writeModel(tmp, cfg, 17, "F32");
        LlamaModel model = LlamaModel.load(tmp, ai.djl.Device.cpu(), "float32", false);
        LayerWeights l0 = model.weights().layer(0);
        assertTrue(l0.qkvStacked() && PackedLinear.isPacked(l0.q()) && PackedLinear.isPacked(l0.gate())
                && PackedLinear.isPacked(l0.down()), "q/k/v stacked and packed, gate and down packed");
        assertTrue(PackedLinear.isPacked(model.weights().lmHead()), "the untied LM head packed");
        try (NDManager sub = model.manager().newSubManager()) { // a head initialised from it gets plain weights
            ExitHead head = ExitHead.initTrained(model, 1, sub);
            assertTrue(head.named().get("model.layers.0.self_attn.q_proj.weight").contentEquals(
                    PackedLinear.unstack(model.weights().layer(1).q()).get(0)), "the head's layer starts as layer 1");
            LayerStack stack = head.stack(model.rope());
            NDArray logits = head.logits(sub.randomNormal(new ai.djl.ndarray.types.Shape(1, 3, 512)),
                    stack.batch(sub, new int[] {0}, new int[] {0}, 3), null);
            assertEquals(512, logits.getShape().get(2), "the head runs its (plain) layer and the packed LM head");
            SpdHead spd = dev.ppsd.engine.schedule.DrafterPlan.initSpdHead(model, 2, 1, 0, null, sub);
            // a packed (oneDNN) tensor cannot even be compared: aten::equal has no MkldnnCPU kernel
            assertTrue(spd.named().values().stream().allMatch(a -> a.contentEquals(a)),
                    "an SPD head initialised from it holds plain copies");
        }
        Run run = promptAndDecode(model, tmp, 107, "packed projections F32");
        assertSensitive(tmp, run, COMMON);
    }

    /**
     * With q, k and v all of the packing size (as on the 97M benchmark model, where k and v are as large as q), a
     * layer loaded for inference holds them stacked into one packed weight (k and v slots empty), with Llama's
     * {@code attention_bias} added after the stacked call. The layer computes what the reference does, without its
     * biases it would not, and it gives back the three weights as they are in the file to code that reads them
     * (saving, a head initialised from the layer).
     */
    @Test
    void stackedQkvWithBiases() throws IOException {
        LlamaConfig cfg = config(512, 1024, 2, 8, 8, 64, 512, 128, false)
                .asFamily(Family.LLAMA, true, RopeScaling.NONE, 0, "float32");
        Path dir = FamilyModels.write(tmp, cfg, 18);
        LlamaModel model = LlamaModel.load(dir, ai.djl.Device.cpu(), "float32", false);
        LayerWeights l1 = model.weights().layer(1);
        assertTrue(l1.qkvStacked() && l1.k() == null && l1.v() == null && PackedLinear.isPacked(l1.q()),
                "q, k and v stacked into one packed weight");
        try (LlamaModel plain = LlamaModel.load(dir); NDManager sub = model.manager().newSubManager()) {
            Map<String, NDArray> named = l1.named("model.", 1);
            LayerWeights file = plain.weights().layer(1);
            assertTrue(named.get("model.layers.1.self_attn.q_proj.weight").contentEquals(file.q())
                    && named.get("model.layers.1.self_attn.k_proj.weight").contentEquals(file.k())
                    && named.get("model.layers.1.self_attn.v_proj.weight").contentEquals(file.v()),
                    "named() gives q, k and v back as in the file");
            ExitHead head = ExitHead.initTrained(model, 1, sub);
            assertTrue(head.named().get("model.layers.0.self_attn.v_proj.weight").contentEquals(file.v()),
                    "a head initialised from the stacked layer gets its plain v");
        }
        Run run = promptAndDecode(model, dir, 108, "stacked q/k/v with biases F32");
        assertSensitive(dir, run, ReferenceLlama.Variant.NO_BIAS, ReferenceLlama.Variant.NO_ROPE);
    }

    // ------------------------------------------------------------------ batched slots

    /** Runs {@code tokens[b]} at {@code start[b]} of {@code slots[b]} in one batched call; logits {@code [B][T][V]}. */
    private static float[][][] batched(LlamaModel model, KvCache cache, int[][] tokens, int[] start, int[] slots) {
        int b = tokens.length;
        int t = tokens[0].length;
        int v = model.config().vocabSize();
        try (NDScope ignored = new NDScope()) {
            LayerStack all = model.stack(0, model.config().numHiddenLayers());
            AttentionBatch a = all.batch(model.manager(), start, slots, t);
            NDArray h = all.forward(model.embed(model.manager(), tokens), a, cache);
            NDArray logits = model.logits(h);
            assertEquals(new ai.djl.ndarray.types.Shape(b, t, v), logits.getShape());
            float[] flat = logits.toFloatArray();
            float[][][] out = new float[b][t][];
            for (int r = 0; r < b; r++) {
                for (int i = 0; i < t; i++) {
                    out[r][i] = Arrays.copyOfRange(flat, (r * t + i) * v, (r * t + i + 1) * v);
                }
            }
            return out;
        }
    }

    /**
     * Two sequences with different prompt lengths in slots {@code slots} of one cache of {@code cacheSlots}
     * slots: prefilled separately, then one batched 3-token chunk (different start per row), then batched
     * single-token decode steps; each row is checked against its own reference run.
     */
    private double batchedCase(int cacheSlots, int[] slots, String label) throws IOException {
        LlamaConfig cfg = config(64, 128, 2, 4, 2, 16, 96, 128, false);
        writeModel(tmp, cfg, 21, "F32");
        return batchedCase(tmp, cacheSlots, slots, label);
    }

    /** {@link #batchedCase(int, int[], String)} on the model in {@code dir}. */
    private double batchedCase(Path dir, int cacheSlots, int[] slots, String label) throws IOException {
        ReferenceLlama[] ref = {ReferenceLlama.load(dir), ReferenceLlama.load(dir)};
        int v = ref[0].vocab;
        LlamaConfig cfg = LlamaConfig.load(dir);
        int[][] prompts = {randomTokens(7, v, 201), randomTokens(4, v, 202)};
        double worst = 0;
        try (LlamaModel model = LlamaModel.load(dir); KvCache cache = model.newCache(cacheSlots, 128)) {
            float[][] last = new float[2][];
            for (int r = 0; r < 2; r++) {
                float[][] got = model.forwardLogits(cache, slots[r], prompts[r], 0);
                float[][] want = ref[r].prefill(prompts[r]);
                for (int i = 0; i < got.length; i++) {
                    worst = Math.max(worst, compare(label + " prefill row " + r + " pos " + i, want[i], got[i]));
                }
                last[r] = want[want.length - 1];
            }
            // one batched multi-token chunk: rows at positions 7..9 and 4..6
            int[][] chunk = {randomTokens(3, v, 203), randomTokens(3, v, 204)};
            float[][][] got = batched(model, cache, chunk, new int[] {ref[0].position(), ref[1].position()}, slots);
            for (int r = 0; r < 2; r++) {
                for (int i = 0; i < 3; i++) {
                    int pos = ref[r].position();
                    last[r] = ref[r].step(chunk[r][i]);
                    worst = Math.max(worst, compare(label + " chunk row " + r + " pos " + pos, last[r], got[r][i]));
                }
            }
            // batched greedy decode, one token per row per call
            for (int s = 0; s < 20; s++) {
                int[][] toks = {{argmax(last[0])}, {argmax(last[1])}};
                int[] start = {ref[0].position(), ref[1].position()};
                got = batched(model, cache, toks, start, slots);
                for (int r = 0; r < 2; r++) {
                    last[r] = ref[r].step(toks[r][0]);
                    worst = Math.max(worst, compare(label + " decode row " + r + " pos " + start[r], last[r],
                            got[r][0]));
                }
            }
            assertEquals(ref[0].position(), cache.length(0, slots[0]));
            assertEquals(ref[1].position(), cache.length(cfg.numHiddenLayers() - 1, slots[1]));
        }
        System.out.printf("[ReferenceForwardTest] %-28s max |logit diff| = %.3e%n", label, worst);
        return worst;
    }

    @Test
    void batchedTwoSlotsDifferentLengths() throws IOException {
        batchedCase(2, new int[] {0, 1}, "batched slots {0,1}");
    }

    @Test
    void batchedNonContiguousSlots() throws IOException {
        // slots {2, 0} of a 3-slot cache: a window of 3 slots, queries scattered into it and picked back
        batchedCase(3, new int[] {2, 0}, "batched slots {2,0} of 3");
    }

    @Test
    void batchedWindowNotAtSlotZero() throws IOException {
        // slots {1, 2} of 4: the window [1, 3) in place, batch rows = attention rows
        batchedCase(4, new int[] {1, 2}, "batched slots {1,2} of 4");
    }

    @Test
    void batchedSparseSlotsGather() throws IOException {
        // slots {7, 0} of 8: a window of 8 slots for 2 rows is too sparse, so the two slots' K/V are gathered
        batchedCase(8, new int[] {7, 0}, "batched slots {7,0} of 8");
    }

    /**
     * A flat batch ({@link BatchRows}): one call holds a decode token of slot 2 and two prompts of different lengths
     * (slots 0 and 1), every token a row; every row's logits match its sequence's reference at its position, each
     * sequence's last row is picked, the cache holds each run, and batched decode steps after it stay on the
     * reference.
     */
    @Test
    void flatBatchPromptsAmongDecodeTokens() throws IOException {
        writeModel(tmp, config(64, 128, 2, 4, 2, 16, 96, 128, false), 21, "F32");
        flatCase("flat batch");
    }

    /** The same flat call on Mistral with a sliding window of 3: a prompt's run masks by each row's own position. */
    @Test
    void mistralSlidingWindowFlatBatch() throws IOException {
        family(FamilyModels.mistral(2, 512, 3), 51);
        flatCase("Mistral window 3 flat batch");
    }

    private void flatCase(String label) throws IOException {
        ReferenceLlama[] ref = {ReferenceLlama.load(tmp), ReferenceLlama.load(tmp), ReferenceLlama.load(tmp)};
        int v = ref[0].vocab;
        int[][] prompts = {randomTokens(6, v, 211), randomTokens(5, v, 212), randomTokens(3, v, 213)};
        int[] slots = {2, 0, 1};
        double worst = 0;
        try (LlamaModel model = LlamaModel.load(tmp); KvCache cache = model.newCache(3, 128)) {
            LlamaConfig cfg = model.config();
            ModelRunner all = ModelRunner.of(model, 0, cfg.numHiddenLayers());
            float[][] want0 = ref[0].prefill(prompts[0]);
            model.forwardLogits(cache, slots[0], prompts[0], 0);
            int tok = argmax(want0[want0.length - 1]);
            // the call's sequences: prompt 1, the decode token, prompt 2 (its rows: the token first, then the runs)
            BatchRows rows = new BatchRows(new int[] {slots[1], slots[0], slots[2]},
                    new int[] {0, ref[0].position(), 0}, new int[][] {prompts[1], {tok}, prompts[2]});
            assertTrue(rows.flat());
            float[][] last = new float[3][];
            try (NDScope ignored = new NDScope()) {
                NDArray h = all.forward(all.embed(rows.tokens()), rows.attention(all), cache);
                float[][] every = all.logits(h); // one row per token: 1 + 5 + 3
                assertEquals(9, every.length);
                last[0] = ref[0].step(tok);
                worst = Math.max(worst, compare("flat decode row", last[0], every[0]));
                for (int r = 1; r < 3; r++) {
                    float[][] want = ref[r].prefill(prompts[r]);
                    int from = r == 1 ? 1 : 6;
                    for (int i = 0; i < want.length; i++) {
                        worst = Math.max(worst, compare("flat prompt " + r + " pos " + i, want[i], every[from + i]));
                    }
                    last[r] = want[want.length - 1];
                }
                float[][] picked = all.logits(rows.lastOfEach(h)); // in the call's order of sequences
                int[] sequence = {1, 0, 2};
                for (int i = 0; i < 3; i++) {
                    worst = Math.max(worst, compare("flat last of " + sequence[i], last[sequence[i]], picked[i]));
                }
            }
            for (int r = 0; r < 3; r++) {
                assertEquals(ref[r].position(), cache.length(cfg.numHiddenLayers() - 1, slots[r]));
            }
            for (int s = 0; s < 10; s++) {
                int[][] toks = {{argmax(last[0])}, {argmax(last[1])}, {argmax(last[2])}};
                int[] start = {ref[0].position(), ref[1].position(), ref[2].position()};
                float[][][] got = batched(model, cache, toks, start, slots);
                for (int r = 0; r < 3; r++) {
                    last[r] = ref[r].step(toks[r][0]);
                    worst = Math.max(worst, compare("decode after flat, row " + r, last[r], got[r][0]));
                }
            }
        }
        System.out.printf("[ReferenceForwardTest] %-28s max |logit diff| = %.3e%n", label, worst);
    }

    // ------------------------------------------------------------------ truncate

    @Test
    void truncateAndRedecode() throws IOException {
        LlamaConfig cfg = config(64, 128, 2, 4, 2, 16, 96, 128, false);
        writeModel(tmp, cfg, 31, "F32");
        int[] prompt = randomTokens(PROMPT, 96, 301);
        double worst = 0;
        try (LlamaModel model = LlamaModel.load(tmp); KvCache cache = model.newCache(1, 128)) {
            List<Integer> seq = new ArrayList<>();
            float[] last = model.forwardLogits(cache, 0, prompt, 0)[PROMPT - 1];
            for (int t : prompt) {
                seq.add(t);
            }
            for (int s = 0; s < 5; s++) { // decode 5 tokens
                int tok = argmax(last);
                last = model.forwardLogits(cache, 0, new int[] {tok}, seq.size())[0];
                seq.add(tok);
            }
            int len = seq.size();
            assertEquals(len, cache.length(0, 0));
            cache.truncate(0, len - 3);
            assertEquals(len - 3, cache.length(0, 0));
            assertEquals(len - 3, cache.length(1, 0));
            List<Integer> kept = new ArrayList<>(seq.subList(0, len - 3));
            // the dropped tokens' K/V stay in the buffer; re-decode tokens that differ from them
            int[] replacement = new int[8];
            for (int i = 0; i < replacement.length; i++) {
                int old = i < 3 ? seq.get(len - 3 + i) : -1;
                replacement[i] = (old + 17 + 5 * i) % 96;
                assertTrue(replacement[i] != old);
            }
            ReferenceLlama fresh = ReferenceLlama.load(tmp);
            fresh.prefill(kept.stream().mapToInt(Integer::intValue).toArray());
            for (int i = 0; i < replacement.length; i++) {
                int pos = kept.size() + i;
                float[] got = model.forwardLogits(cache, 0, new int[] {replacement[i]}, pos)[0];
                float[] want = fresh.step(replacement[i]);
                worst = Math.max(worst, compare("after truncate pos " + pos, want, got));
            }
        }
        System.out.printf("[ReferenceForwardTest] %-28s max |logit diff| = %.3e%n", "truncate + re-decode", worst);
    }

    // ------------------------------------------------------------------ model families

    /** A family model written by {@link FamilyModels} (its exact HF layout and config.json) into {@code tmp}. */
    private Path family(LlamaConfig c, long seed) throws IOException {
        return FamilyModels.write(tmp, c, seed);
    }

    @Test
    void llama3RopeScalingTiedEmbeddingsRealVocab() throws IOException {
        // Llama 3.2 layout and vocabulary; theta 500 and original context 64 put RoPE's wavelengths (6 to 1200
        // positions) in all three llama3 bands: high (< 16: kept), medium (16..64: blended), low (> 64: / 8)
        LlamaConfig c = FamilyModels.llama3(2, FamilyModels.LLAMA3_VOCAB)
                .asFamily(Family.LLAMA, false, RopeScaling.llama3(8, 1, 4, 64), 0, "bfloat16").withRopeTheta(500f);
        Run run = promptAndDecode(family(c, 41), 401, "Llama 3 llama3-rope tied");
        assertSensitive(tmp, run, ReferenceLlama.Variant.NO_ROPE_SCALING, ReferenceLlama.Variant.NO_ROPE,
                ReferenceLlama.Variant.INTERLEAVED_ROPE, ReferenceLlama.Variant.GQA_MODULO);
    }

    @Test
    void tiedEmbeddingsIgnoreAStoredLmHead() throws IOException {
        // a tied checkpoint that also stores lm_head.weight: transformers ties it to the embedding, so must we
        LlamaConfig c = FamilyModels.llama3(2, 512).withRopeTheta(500f);
        family(c, 42);
        LlamaConfig untied = new LlamaConfig(c.hiddenSize(), c.intermediateSize(), c.numHiddenLayers(),
                c.numAttentionHeads(), c.numKeyValueHeads(), c.headDim(), c.rmsNormEps(), c.ropeTheta(), c.vocabSize(),
                c.maxPositionEmbeddings(), false, c.bosTokenId(), c.eosTokenIds(), c.family(), false, c.ropeScaling(),
                0, c.torchDtype());
        FamilyModels.writeWeights(tmp.resolve("model.safetensors"), untied, 2, 1.0, 42);
        try (Safetensors.Reader r = Safetensors.open(tmp.resolve("model.safetensors"))) {
            assertTrue(r.tensors().containsKey(LlamaWeights.LM_HEAD));
        }
        Run run = promptAndDecode(tmp, 402, "tied + stored lm_head");
        assertSensitive(tmp, run, ReferenceLlama.Variant.TIE_IGNORED);
    }

    @Test
    void linearRopeScaling() throws IOException {
        LlamaConfig cfg = config(64, 128, 2, 4, 2, 16, 96, 128, false)
                .asFamily(Family.LLAMA, false, RopeScaling.of("linear", 4), 0, "float32");
        writeModel(tmp, cfg, 43, "F32");
        Run run = promptAndDecode(tmp, 403, "linear rope x4");
        assertSensitive(tmp, run, ReferenceLlama.Variant.NO_ROPE_SCALING, ReferenceLlama.Variant.INTERLEAVED_ROPE);
    }

    @Test
    void dynamicRopeScalingIsPlainRopeWithinTheContext() throws IOException {
        // transformers' dynamic NTK only rescales past max_position_embeddings, which the engine's context never
        // reaches: the logits equal those of the same weights without scaling, and equal the reference, which
        // applies the NTK formula at every step; applying it at the extended length would be far off
        LlamaConfig plain = config(64, 128, 2, 4, 2, 16, 96, 128, false);
        writeModel(tmp, plain, 44, "F32");
        int[] prompt = randomTokens(PROMPT, 96, 404);
        float[][] want;
        try (LlamaModel m = LlamaModel.load(tmp); KvCache cache = m.newCache(1, 16)) {
            want = m.forwardLogits(cache, 0, prompt, 0);
        }
        writeModel(tmp, plain.asFamily(Family.LLAMA, false, RopeScaling.of("dynamic", 4), 0, "float32"), 44, "F32");
        try (LlamaModel m = LlamaModel.load(tmp); KvCache cache = m.newCache(1, 16)) {
            float[][] got = m.forwardLogits(cache, 0, prompt, 0);
            for (int i = 0; i < PROMPT; i++) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(want[i], got[i], "position " + i);
            }
        }
        Run run = promptAndDecode(tmp, 404, "dynamic rope x4");
        assertSensitive(tmp, run, ReferenceLlama.Variant.DYNAMIC_ALWAYS_EXTENDED);
    }

    @Test
    void llamaAttentionBiasOnQkvAndO() throws IOException {
        LlamaConfig c = config(64, 128, 2, 4, 2, 16, 320, 128, false)
                .asFamily(Family.LLAMA, true, RopeScaling.NONE, 0, "float32");
        Run run = promptAndDecode(FamilyModels.write(tmp, c, 45), 405, "Llama attention_bias");
        assertSensitive(tmp, run, ReferenceLlama.Variant.NO_BIAS, ReferenceLlama.Variant.NO_ROPE);
    }

    @Test
    void qwen2BiasesTiedTheta1e6RealVocab() throws IOException {
        LlamaConfig c = FamilyModels.qwen2(2, FamilyModels.QWEN_VOCAB);
        Run run = promptAndDecode(family(c, 46), 406, "Qwen2.5 qkv bias tied");
        assertSensitive(tmp, run, ReferenceLlama.Variant.NO_BIAS, ReferenceLlama.Variant.NO_ROPE,
                ReferenceLlama.Variant.NORM_WEIGHTS_IGNORED);
    }

    @Test
    void qwen3QkNormExplicitHeadDimRealVocab() throws IOException {
        LlamaConfig c = FamilyModels.qwen3(2, FamilyModels.QWEN_VOCAB);
        assertTrue(c.headDim() != c.hiddenSize() / c.numAttentionHeads());
        Run run = promptAndDecode(family(c, 47), 407, "Qwen3 qk-norm head_dim 32");
        assertSensitive(tmp, run, ReferenceLlama.Variant.NO_QK_NORM, ReferenceLlama.Variant.SCALE_FROM_HIDDEN,
                ReferenceLlama.Variant.GQA_MODULO, ReferenceLlama.Variant.NO_ROPE);
    }

    @Test
    void qwen3AttentionBias() throws IOException {
        LlamaConfig c = FamilyModels.qwen3(2, 512).asFamily(Family.QWEN3, true, RopeScaling.NONE, 0, "bfloat16");
        Run run = promptAndDecode(family(c, 48), 408, "Qwen3 attention_bias");
        assertSensitive(tmp, run, ReferenceLlama.Variant.NO_BIAS, ReferenceLlama.Variant.NO_QK_NORM);
    }

    @Test
    void mistralSlidingWindowRealVocab() throws IOException {
        // window 8 over 57 positions: most queries see only their 8 latest keys
        LlamaConfig c = FamilyModels.mistral(2, FamilyModels.MISTRAL_VOCAB, 8);
        Run run = promptAndDecode(family(c, 49), 409, "Mistral sliding window 8");
        assertSensitive(tmp, run, ReferenceLlama.Variant.NO_SLIDING_WINDOW, ReferenceLlama.Variant.NO_ROPE);
    }

    @Test
    void mistralSlidingWindowBatchedSlots() throws IOException {
        // window 5: the batched chunk and decode steps mask by each row's own position, in place and gathered
        family(FamilyModels.mistral(2, 512, 5), 50);
        batchedCase(tmp, 3, new int[] {2, 0}, "Mistral window 5 slots {2,0}");
        batchedCase(tmp, 8, new int[] {7, 0}, "Mistral window 5 slots {7,0}");
    }
}
