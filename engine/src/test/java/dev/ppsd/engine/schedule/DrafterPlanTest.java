package dev.ppsd.engine.schedule;

import dev.ppsd.engine.settings.Settings;
import ai.djl.ndarray.NDManager;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.TinyModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pipeline's drafter choice on an 8-layer model with trained heads after layers 4 and 2. Costs (weights
 * per token): a layer 36,864, the LM head 32,768 (0.89 layers). With α(shared, 4) = 0.76 and α(trained, 4) =
 * 0.83 the shared head wins: stages 4.89 / 4.89 layers × 1.24 cycles per token = 6.06 against the trained head's
 * 5.89 / 4.89 × 1.17 = 6.89.
 */
class DrafterPlanTest {
    @TempDir
    static Path tmp;
    static Path modelDir;

    @BeforeAll
    static void model() throws Exception {
        LlamaConfig c = TinyModels.config(8, 512);
        modelDir = TinyModels.write(tmp.resolve("m"), c, 7);
        try (LlamaModel m = LlamaModel.load(modelDir); NDManager sub = m.manager().newSubManager()) {
            ExitHead.initTrained(m, 4, sub).save(modelDir.resolve("exit_head"));
            ExitHead.initTrained(m, 2, sub).save(modelDir.resolve("exit_head_e2"));
        }
    }

    @Test
    void withoutEvalJsonTheFoldersExitHeadIsUsed() throws Exception {
        Files.deleteIfExists(modelDir.resolve("eval.json"));
        DrafterPlan p = plan("auto", 0, 2);
        assertTrue(p.exitHead().trained());
        assertEquals(4, p.exitHead().exitLayer());
        assertEquals("[0, 4, 8]", p.split().toString());
        assertTrue(p.reason().contains("no eval.json"), p.reason());
    }

    @Test
    void aCheapSharedHeadBeatsAMoreAccurateTrainedHeadWhoseLayerUnbalancesTheStages() throws Exception {
        evalJson(0.83, 0.73);
        DrafterPlan p = plan("auto", 0, 2);
        assertFalse(p.exitHead().trained(), p.reason());
        assertEquals(4, p.exitHead().exitLayer());
        assertEquals("[0, 4, 8]", p.split().toString());
        assertTrue(p.reason().contains("best of 9 candidates"), p.reason()); // shared at 1..7, trained at 4 and 2
    }

    @Test
    void aTrainedHeadThatIsAccurateEnoughWins() throws Exception {
        evalJson(0.99, 0.73);
        DrafterPlan p = plan("auto", 0, 2);
        assertTrue(p.exitHead().trained(), p.reason());
        assertEquals(4, p.exitHead().exitLayer());
    }

    @Test
    void anExplicitExitLayerNarrowsTheCandidates() throws Exception {
        evalJson(0.83, 0.90);
        DrafterPlan p = plan("auto", 2, 2);
        assertEquals(2, p.exitHead().exitLayer());
        assertTrue(p.exitHead().trained(), p.reason()); // trained α 0.90 vs shared α 0.41 at layer 2
        assertTrue(p.reason().contains("best of 2 candidates"), p.reason());
    }

    @Test
    void sharedPicksTheBestSharedExitLayer() throws Exception {
        evalJson(0.99, 0.99);
        DrafterPlan p = plan("shared", 0, 2);
        assertFalse(p.exitHead().trained());
        assertEquals(4, p.exitHead().exitLayer(), p.reason());
    }

    @Test
    void aTrainedHeadMissingFromEvalJsonKeepsTheDefaultRule() throws Exception {
        Files.writeString(modelDir.resolve("eval.json"), """
                {"heldout.txt": {"alpha_shared_head": {"4": 0.76}, "alpha_trained_head": {"4": 0.5}}}
                """);
        DrafterPlan p = plan("auto", 0, 2);
        assertTrue(p.exitHead().trained()); // exit_head_e2 has no acceptance: nothing to compare it by
        assertEquals(4, p.exitHead().exitLayer());
        assertTrue(p.reason().contains("no eval.json"), p.reason());
    }

    @Test
    void laterStagesAreSplitByTheCostModel() throws Exception {
        evalJson(0.83, 0.73);
        DrafterPlan p = plan("shared", 4, 3);
        assertEquals(StageCostModel.of(TinyModels.config(8, 512)).split(8, 3, 4), p.split());
        assertTrue(p.reason().startsWith("drafter: shared head after layer 4, stages [0, 4, "), p.reason());
    }

    private static void evalJson(double trained4, double trained2) throws Exception {
        Files.writeString(modelDir.resolve("eval.json"), String.format(java.util.Locale.ROOT, """
                {"a.txt": {"tokens": 10,
                           "alpha_shared_head": {"1": 0.30, "2": 0.41, "3": 0.50, "4": 0.74, "5": 0.67, "6": 0.70, "7": 0.80},
                           "alpha_trained_head": {"4": %s, "2": %s}},
                 "b.txt": {"alpha_shared_head": {"1": 0.30, "2": 0.41, "3": 0.50, "4": 0.78, "5": 0.67, "6": 0.70, "7": 0.80},
                           "alpha_trained_head": {"4": %s, "2": %s}}}
                """, trained4, trained2, trained4, trained2));
    }

    private static DrafterPlan plan(String head, int exitLayer, int stages) {
        List<String> devices = java.util.Collections.nCopies(stages, "cpu");
        EngineOptions o = EngineOptions.of(modelDir).with(Settings.MODE, "ppsd").with(Settings.BATCH_SIZE, 1)
                .with(Settings.EXIT_LAYER, exitLayer).with(Settings.STAGES, String.join(",", devices))
                .with(Settings.EXIT_HEAD, head);
        try (LlamaModel m = LlamaModel.load(modelDir)) {
            return DrafterPlan.choose(m, o, stages);
        }
    }
}
