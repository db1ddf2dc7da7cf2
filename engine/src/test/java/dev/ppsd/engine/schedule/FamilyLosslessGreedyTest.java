package dev.ppsd.engine.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.decode.FinishReason;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.decode.SpecMetrics;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.FamilyModels;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
 * Lossless greedy decoding on every model family ({@link FamilyModels}: Llama 3.2, Qwen2.5, Qwen3, Mistral with a
 * sliding window, each in its HF layout and real vocabulary): {@code ppsd} k = 2 and k = 3, {@code eesd} with the
 * shared LM head, {@code ppsd} with a trained-kind exit head initialised from layer E and {@code spd} with an
 * untrained SPD head ({@link SpecHarness#writeSpdHead}; the family's layers: biases, q/k norms, the window, saved and
 * loaded) commit exactly the token ids, text and finish reason of {@code ar}. Llama 3
 * also ends sequences on an EOS id listed only in generation_config.json.
 *
 * <p>Models: 6 layers, layers 1..5's residual projections x {@link #LATE_SCALE} so drafts at every exit layer are
 * accepted sometimes and rejected sometimes. Prompts whose ar run meets a top-2 gap below {@link #NEAR_TIE} are
 * skipped (counted; must be rare).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FamilyLosslessGreedyTest {
    static final int LAYERS = 6;
    static final double LATE_SCALE = 0.35;
    /** The late-layer scale that gives the hidden-512 model both verdicts (at 0.35 its drafts all pass). */
    static final double WIDE_LATE_SCALE = 1.0;
    static final int PROMPTS = 16;
    static final int MAX_NEW = 16;
    static final double NEAR_TIE = 1e-4;

    @TempDir
    Path tmp;

    static Stream<Arguments> families() {
        return Stream.of(
                Arguments.of("Llama 3.2 (llama3 rope, tied)", FamilyModels.llama3(LAYERS, FamilyModels.LLAMA3_VOCAB), LATE_SCALE),
                Arguments.of("Qwen2.5 (qkv bias, tied)", FamilyModels.qwen2(LAYERS, FamilyModels.QWEN_VOCAB), LATE_SCALE),
                Arguments.of("Qwen3 (qk norm, head_dim 32)", FamilyModels.qwen3(LAYERS, FamilyModels.QWEN_VOCAB), LATE_SCALE),
                Arguments.of("Mistral (sliding window 6)", FamilyModels.mistral(LAYERS, FamilyModels.MISTRAL_VOCAB, 6), LATE_SCALE),
                // hidden 512: q, o, gate, up and down reach PackedLinear's size and run oneDNN's packed linear
                Arguments.of("Llama hidden 512 (packed projections)", new LlamaConfig(512, 1024, LAYERS, 8, 4, 64,
                        1e-5f, 10000f, 4096, 512, true, 1, List.of(2)), WIDE_LATE_SCALE));
    }

    private static List<GenerationRequest> requests() {
        List<GenerationRequest> out = new ArrayList<>();
        List<String> ps = SpecHarness.prompts(PROMPTS, 515);
        for (int i = 0; i < ps.size(); i++) {
            out.add(new GenerationRequest("f" + i, ps.get(i), SamplingParams.greedy(i % 5 == 4 ? 3 : MAX_NEW)));
        }
        return out;
    }

    private static EngineOptions ppsd(Path dir, int stages, int exitLayer, int batch) {
        return EngineOptions.of(dir).with(Settings.MODE, "ppsd")
                .with(Settings.STAGES, String.join(",", java.util.Collections.nCopies(stages, "cpu")))
                .with(Settings.EXIT_LAYER, exitLayer).with(Settings.BATCH_SIZE, batch)
                .with(Settings.SPECULATION, "always");
    }

    /** The requests whose ar run meets a near-tie (every mode may legitimately differ there). */
    private static Set<Integer> nearTies(Path dir, List<GenerationResult> oracle, String label) {
        double[] gaps = SpecHarness.smallestGaps(dir, oracle, NEAR_TIE);
        Set<Integer> skip = new HashSet<>();
        for (int i = 0; i < gaps.length; i++) {
            if (gaps[i] < NEAR_TIE) {
                skip.add(i);
            }
        }
        assertTrue(skip.size() <= 2, label + ": near-ties should be rare: " + skip.size());
        return skip;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void everyModeCommitsWhatArCommits(String label, LlamaConfig c, double lateScale) throws IOException {
        Path dir = FamilyModels.write(tmp.resolve("model"), c, 1, lateScale, 17);
        List<GenerationRequest> reqs = requests();
        long t0 = System.nanoTime();
        List<GenerationResult> oracle = SpecHarness.run(EngineOptions.of(dir).with(Settings.BATCH_SIZE, 8), reqs)
                .results();
        Set<Integer> skip = nearTies(dir, oracle, label);
        System.out.printf("[FamilyLosslessGreedyTest] %s: ar oracle %.0f ms, %d near-tie prompts skipped%n", label,
                (System.nanoTime() - t0) / 1e6, skip.size());
        Path head = tmp.resolve("head");
        try (LlamaModel m = LlamaModel.load(dir); NDManager sub = m.manager().newSubManager()) {
            ExitHead.initTrained(m, 3, sub).save(head);
        }
        SpecHarness.writeSpdHead(dir, 2);
        List<EngineOptions> modes = List.of(
                ppsd(dir, 2, 3, 8),
                ppsd(dir, 3, 2, 3),
                EngineOptions.of(dir).with(Settings.MODE, "eesd").with(Settings.GAMMA, "ts").with(Settings.EXIT_LAYER, 3),
                ppsd(dir, 2, 3, 8).with(Settings.EXIT_HEAD, head.toString()),
                ppsd(dir, 2, 0, 8).with(Settings.MODE, "spd"));
        List<String> names = List.of("ppsd k=2 E=3", "ppsd k=3 E=2", "eesd E=3", "ppsd k=2 trained-kind head E=3",
                "spd k=2");
        for (int i = 0; i < modes.size(); i++) {
            String where = label + " " + names.get(i);
            SpecHarness.Run run = SpecHarness.run(modes.get(i), reqs);
            int compared = SpecHarness.assertSameAsOracle(oracle, run.results(), skip, where);
            SpecMetrics t = run.total();
            System.out.printf("[FamilyLosslessGreedyTest] %-58s acceptance %.3f (%d / %d), flushes %d, %d compared,"
                    + " %.0f ms%n", where, t.acceptance(), t.draftsAccepted(), t.draftsProposed(), t.flushes(),
                    compared, run.ms());
            assertTrue(t.draftsAccepted() > 0 && t.draftsAccepted() < t.draftsProposed(),
                    where + ": both verdicts exercised, acceptance " + t.acceptance());
        }
    }

    @Test
    void llama3EndsOnAnEosIdListedOnlyInGenerationConfig() throws IOException {
        Path dir = FamilyModels.write(tmp.resolve("llama3"), FamilyModels.llama3(LAYERS, FamilyModels.LLAMA3_VOCAB),
                1, LATE_SCALE, 23);
        List<GenerationRequest> reqs = requests();
        List<GenerationResult> before = SpecHarness.run(EngineOptions.of(dir), reqs).results();
        // two tokens the model emits mid-run (the 3rd of run 0, the 6th of run 1) become EOS ids of
        // generation_config.json only: each must end its run there, whichever id it is
        List<Integer> extra = List.of(before.get(0).tokenIds()[2], before.get(1).tokenIds()[5]);
        Path gen = dir.resolve("generation_config.json");
        JsonObject g = JsonParser.parseString(Files.readString(gen)).getAsJsonObject();
        JsonArray ids = g.getAsJsonArray("eos_token_id");
        extra.forEach(ids::add);
        Files.writeString(gen, g.toString());
        LlamaConfig c = LlamaConfig.load(dir);
        List<Integer> want = new ArrayList<>(List.of(128001, 128008, 128009));
        extra.stream().filter(e -> !want.contains(e)).distinct().forEach(want::add);
        assertEquals(want, c.eosTokenIds(), "config.json's EOS ids, then generation_config.json's others");

        List<GenerationResult> ar = SpecHarness.run(EngineOptions.of(dir), reqs).results();
        long eosEnds = ar.stream().filter(r -> r.finishReason() == FinishReason.EOS).count();
        for (GenerationResult r : ar) {
            if (r.finishReason() == FinishReason.EOS) {
                assertTrue(extra.contains(r.tokenIds()[r.tokenIds().length - 1]), r.id() + " ends on an EOS id");
            }
        }
        assertTrue(ar.get(0).finishReason() == FinishReason.EOS && ar.get(0).tokenIds().length <= 3,
                "run 0 ends at its 3rd token or before");
        assertTrue(ar.get(1).finishReason() == FinishReason.EOS && ar.get(1).tokenIds().length <= 6,
                "run 1 ends at its 6th token or before");
        Set<Integer> skip = nearTies(dir, ar, "llama3 eos");
        SpecHarness.assertSameAsOracle(ar, SpecHarness.run(ppsd(dir, 2, 3, 8), reqs).results(), skip, "ppsd k=2");
        SpecHarness.assertSameAsOracle(ar, SpecHarness.run(ppsd(dir, 3, 2, 3), reqs).results(), skip, "ppsd k=3");
        System.out.printf("[FamilyLosslessGreedyTest] Llama 3 EOS %s from generation_config.json end %d of %d runs%n",
                extra, eosEnds, ar.size());
    }
}
