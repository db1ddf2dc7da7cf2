package dev.ppsd.engine.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.decode.SpecMetrics;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.FamilyModels;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.runtime.Bfloat16;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Precision ({@code dtype}): weights, KV caches and activations held in bfloat16 / float16, logits float32.
 * <ul>
 *   <li>every mode commits what {@code ar} commits in the same type, on every family;</li>
 *   <li>bfloat16 against float32: how close the logits are and how often the greedy text is the same (reported;
 *       bounded loosely).</li>
 * </ul>
 * In bfloat16 a logit has 8 significant bits, so with a vocabulary of 32k-152k the top two are often one unit
 * apart (0.0625 at magnitude 8-16) or equal; the kernels' rounding may then differ with the batch shape. A prompt on
 * which {@code ar} itself does not commit the same tokens at batch 1, 3 and 8 is therefore skipped (counted, must
 * be rare): no mode can be held to a token ar does not decide consistently.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PrecisionTest {
    static final int LAYERS = 6;
    static final double LATE_SCALE = 0.35;
    static final int PROMPTS = 16;
    static final int MAX_NEW = 16;

    @TempDir
    Path tmp;

    static Stream<Arguments> families() {
        return FamilyLosslessGreedyTest.families();
    }

    private static List<GenerationRequest> requests(int n) {
        List<GenerationRequest> out = new ArrayList<>();
        List<String> ps = SpecHarness.prompts(n, 616);
        for (int i = 0; i < ps.size(); i++) {
            out.add(new GenerationRequest("d" + i, ps.get(i), SamplingParams.greedy(MAX_NEW)));
        }
        return out;
    }

    private static EngineOptions ppsd(EngineOptions o, int stages, int exitLayer, int batch) {
        return o.with(Settings.MODE, "ppsd").with(Settings.STAGES, String.join(",", java.util.Collections.nCopies(
                stages, "cpu"))).with(Settings.EXIT_LAYER, exitLayer).with(Settings.BATCH_SIZE, batch)
                .with(Settings.SPECULATION, "always");
    }

    @Test
    void weightsKvCacheAndActivationsAreHeldInTheDtype() throws IOException {
        Path dir = FamilyModels.write(tmp.resolve("qwen3"), FamilyModels.qwen3(2, 512), 5);
        LlamaConfig c = LlamaConfig.load(dir);
        assertEquals(DataType.FLOAT32, LlamaModel.dataType("auto", c, false), "auto on a CPU");
        assertEquals(DataType.BFLOAT16, LlamaModel.dataType("auto", c, true), "auto on a GPU: torch_dtype");
        for (DataType type : List.of(DataType.BFLOAT16, DataType.FLOAT16)) {
            try (LlamaModel m = LlamaModel.load(dir, Device.cpu(), type); KvCache cache = m.newCache(1, 16);
                    NDManager sub = m.manager().newSubManager()) {
                assertEquals(type, m.dataType());
                for (NDArray w : m.weights().named(false).values()) {
                    assertEquals(type, Bfloat16.typeOf(w), "every weight in " + type);
                }
                assertEquals(type, cache.dataType(), "KV cache");
                assertEquals(type, Bfloat16.typeOf(m.rope().tables(sub.create(new long[] {0, 1}, new ai.djl.ndarray
                        .types.Shape(1, 2)))[0]), "RoPE tables");
                float[][] l = m.forwardLogits(cache, 0, new int[] {3, 14, 15, 92}, 0); // float32 for sampling
                for (float x : l[3]) {
                    assertTrue(Float.isFinite(x), "finite logits");
                }
                ExitHead h = ExitHead.initTrained(m, 1, sub);
                assertEquals(type, Bfloat16.typeOf(h.named().get(ExitHead.EXIT_NORM)), "trained head");
            }
        }
        try (GenerationEngine e = GenerationEngine.open(EngineOptions.of(dir).with(Settings.DTYPE, "bfloat16"))) {
            assertEquals(DataType.BFLOAT16, e.model().dataType(), "Settings.DTYPE reaches the model");
        }
        try (GenerationEngine e = GenerationEngine.open(EngineOptions.of(dir))) {
            assertEquals(DataType.FLOAT32, e.model().dataType(), "auto on this CPU");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void bfloat16EveryModeCommitsWhatArCommitsInBfloat16(String label, LlamaConfig c, double lateScale)
            throws IOException {
        everyModeInType(label, c, lateScale, "bfloat16", true);
    }

    @Test
    void float16PpsdAndEesdCommitWhatArCommitsInFloat16() throws IOException {
        // float16 matmuls are slow on CPUs: two modes, one family
        everyModeInType("Qwen3", FamilyModels.qwen3(LAYERS, FamilyModels.QWEN_VOCAB), LATE_SCALE, "float16",
                false);
    }

    /** Every mode ({@code all}) or ppsd k=2 and eesd against ar in {@code dtype}. */
    private void everyModeInType(String label, LlamaConfig c, double lateScale, String dtype, boolean all)
            throws IOException {
        Path dir = FamilyModels.write(tmp.resolve("model"), c, 1, lateScale, 17);
        List<GenerationRequest> reqs = requests(PROMPTS);
        EngineOptions o = EngineOptions.of(dir).with(Settings.DTYPE, dtype);
        List<GenerationResult> oracle = SpecHarness.run(o.with(Settings.BATCH_SIZE, 8), reqs).results();
        Set<Integer> skip = new HashSet<>();
        for (int batch : all ? new int[] {1, 3} : new int[] {1}) {
            List<GenerationResult> other = SpecHarness.run(o.with(Settings.BATCH_SIZE, batch), reqs).results();
            for (int i = 0; i < reqs.size(); i++) {
                if (!Arrays.equals(oracle.get(i).tokenIds(), other.get(i).tokenIds())) {
                    skip.add(i);
                }
            }
        }
        System.out.printf("[PrecisionTest] %s %s: %d of %d prompts skipped (ar differs with the batch size)%n",
                label, dtype, skip.size(), reqs.size());
        assertTrue(skip.size() <= 2, label + ": ar should rarely depend on the batch size: " + skip.size());
        Path head = tmp.resolve("head");
        try (LlamaModel m = LlamaModel.load(dir, Device.cpu(), LlamaModel.dataType(dtype, c, false));
                NDManager sub = m.manager().newSubManager()) {
            ExitHead.initTrained(m, 3, sub).save(head);
        }
        List<EngineOptions> modes = List.of(ppsd(o, 2, 3, 8),
                o.with(Settings.MODE, "eesd").with(Settings.GAMMA, "ts").with(Settings.EXIT_LAYER, 3),
                ppsd(o, 3, 2, 3), ppsd(o, 2, 3, 8).with(Settings.EXIT_HEAD, head.toString()));
        List<String> names = List.of("ppsd k=2 E=3", "eesd E=3", "ppsd k=3 E=2", "ppsd k=2 trained-kind head");
        if (!all) {
            modes = modes.subList(0, 2);
        }
        for (int i = 0; i < modes.size(); i++) {
            String where = label + " " + dtype + " " + names.get(i);
            SpecHarness.Run run = SpecHarness.run(modes.get(i), reqs);
            int compared = SpecHarness.assertSameAsOracle(oracle, run.results(), skip, where);
            SpecMetrics t = run.total();
            System.out.printf("[PrecisionTest] %-60s acceptance %.3f, %d compared, %.0f ms%n", where, t.acceptance(),
                    compared, run.ms());
            assertTrue(t.draftsAccepted() > 0 && t.draftsAccepted() < t.draftsProposed(), where + ": both verdicts");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void bfloat16AgainstFloat32(String label, LlamaConfig c, double lateScale) throws IOException {
        Path dir = FamilyModels.write(tmp.resolve("model"), c, 1, lateScale, 17);
        int n = 24;
        List<GenerationResult> f32 = SpecHarness.run(EngineOptions.of(dir).with(Settings.BATCH_SIZE, 8), requests(n))
                .results();
        List<GenerationResult> bf16 = SpecHarness.run(EngineOptions.of(dir).with(Settings.DTYPE, "bfloat16")
                .with(Settings.BATCH_SIZE, 8), requests(n)).results();
        int sameText = 0;
        int sameFirst = 0;
        for (int i = 0; i < n; i++) {
            sameText += f32.get(i).text().equals(bf16.get(i).text())
                    && Arrays.equals(f32.get(i).tokenIds(), bf16.get(i).tokenIds()) ? 1 : 0;
            sameFirst += f32.get(i).tokenIds()[0] == bf16.get(i).tokenIds()[0] ? 1 : 0;
        }
        // the logits of both types at every position of the float32 greedy sequences (prompt + 16 tokens)
        double maxDiff = 0;
        double sumDiff = 0;
        long count = 0;
        double spread = 0;
        try (LlamaModel a = LlamaModel.load(dir, Device.cpu(), DataType.FLOAT32);
                LlamaModel b = LlamaModel.load(dir, Device.cpu(), DataType.BFLOAT16)) {
            for (GenerationResult r : f32) {
                int[] all = new int[r.promptTokenIds().length + r.tokenIds().length];
                System.arraycopy(r.promptTokenIds(), 0, all, 0, r.promptTokenIds().length);
                System.arraycopy(r.tokenIds(), 0, all, r.promptTokenIds().length, r.tokenIds().length);
                float[][] la;
                float[][] lb;
                try (KvCache ca = a.newCache(1, all.length); KvCache cb = b.newCache(1, all.length)) {
                    la = a.forwardLogits(ca, 0, all, 0);
                    lb = b.forwardLogits(cb, 0, all, 0);
                }
                for (int p = 0; p < la.length; p++) {
                    for (int v = 0; v < la[p].length; v++) {
                        double d = Math.abs(la[p][v] - lb[p][v]);
                        maxDiff = Math.max(maxDiff, d);
                        sumDiff += d;
                        count++;
                        spread = Math.max(spread, Math.abs(la[p][v]));
                    }
                }
            }
        }
        System.out.printf("[PrecisionTest] %s bf16 vs f32: max |logit diff| %.3f, mean %.4f (max |logit| %.1f); same"
                + " greedy text %d / %d prompts (16 tokens), same first token %d / %d%n", label, maxDiff,
                sumDiff / count, spread, sameText, n, sameFirst, n);
        assertTrue(maxDiff < 0.1 * spread, "bf16 logits stay within 10% of the logit range: " + maxDiff);
        assertTrue(sameFirst >= n * 3 / 4, "the first greedy token mostly agrees: " + sameFirst);
    }
}
