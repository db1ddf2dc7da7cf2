package dev.ppsd.engine.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.checkpoint.ModelLoadException;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.decode.SpecMetrics;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.SpdHead;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The SPD head in the pipeline computes what it was trained to compute: every draft the pipeline makes (cached rows,
 * the rows of tokens in flight recomputed every cycle, batches of sequences, prompts restored from the prefix cache,
 * flushes) has the logits {@link SpdHead#teacherForcedLogits} gives for the same tokens with the same number of
 * them in flight, from one uncached forward of the whole text. A head whose cache were not rolled back with the
 * stages' on a flush, or that took rows of tokens still in flight for final ones, would draft from the rows of a
 * discarded continuation and differ here (greedy output would still equal ar: only this test sees it).
 *
 * <p>The head: {@link SpecHarness#writeSpdHead}'s, whose every anchor and row type moves the drafts.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SpdHeadTest {
    static final double LATE_SCALE = 0.35;
    /** Largest difference allowed between a cached and a teacher-forced draft logit. */
    static final double TOLERANCE = 2e-3;

    @TempDir
    static Path tmp;

    private Path model;
    private final List<GenerationRequest> requests = new ArrayList<>();

    @BeforeAll
    void writeModel() throws IOException {
        LlamaConfig c = ControlledAcceptanceModel.config(6, 64, 320, List.of(1));
        model = ControlledAcceptanceModel.write(tmp.resolve("model"), c, 1, LATE_SCALE, 7);
        List<String> ps = SpecHarness.prompts(12, 99);
        // and prompts sharing a 40-word start, so later ones restore it from the prefix caches (the head's too)
        String shared = String.join(" ", SpecHarness.prompts(40, 5).stream().map(p -> p.split(" ")[0]).toList());
        for (int i = 0; i < 3; i++) {
            ps.add(shared + " " + ps.get(i));
        }
        for (int i = 0; i < ps.size(); i++) {
            requests.add(new GenerationRequest("q" + i, ps.get(i), SamplingParams.greedy(i % 4 == 3 ? 2 : 14)));
        }
    }

    /** A copy of the model folder with an SPD head for {@code stages} stages ({@link SpecHarness#writeSpdHead}). */
    private Path modelWithHead(int stages) throws IOException {
        Path dir = tmp.resolve("model-k" + stages);
        if (!Files.isDirectory(dir)) {
            SpecHarness.writeSpdHead(SpecHarness.copyModel(model, dir), stages);
        }
        return dir;
    }

    @ParameterizedTest(name = "k={0} batch {1}")
    @CsvSource({"2, 1", "3, 3"})
    void everyPipelineDraftEqualsTheTeacherForcedHead(int stages, int batch) throws IOException {
        Path dir = modelWithHead(stages);
        EngineOptions o = EngineOptions.of(dir).with(Settings.MODE, "spd").with(Settings.BATCH_SIZE, batch)
                .with(Settings.STAGES, String.join(",", Collections.nCopies(stages, "cpu")))
                .with(Settings.SPECULATION, "always");
        List<SpdHeadDrafter.Drafted> drafts = Collections.synchronizedList(new ArrayList<>());
        List<GenerationResult> results;
        long[] prefix;
        try (GenerationEngine e = GenerationEngine.open(o)) {
            PipelineScheduler p = (PipelineScheduler) e.scheduler();
            ((SpdHeadDrafter) p.drafter()).onDraft(drafts::add);
            results = e.generate(requests);
            prefix = p.prefixCacheCounts();
        }
        List<GenerationResult> ar = SpecHarness.run(EngineOptions.of(dir).with(Settings.MODE, "ar"), requests)
                .results();
        SpecHarness.assertSameAsOracle(ar, results, Set.of(), "spd k=" + stages + " batch " + batch);
        SpecMetrics t = SpecHarness.total(results);
        int[] byFill = new int[stages + 1];
        double worst = 0;
        try (LlamaModel m = LlamaModel.load(dir); NDManager sub = m.manager().newSubManager()) {
            SpdHead head = SpdHead.load(dir.resolve(SpdHead.DIR), m, sub);
            for (SpdHeadDrafter.Drafted d : drafts) {
                float[] want = teacherForced(m, head, d.tokens(), d.inFlight());
                for (int v = 0; v < want.length; v++) {
                    worst = Math.max(worst, Math.abs(want[v] - d.logits()[v]));
                }
                byFill[d.inFlight()]++;
            }
        }
        System.out.printf("[SpdHeadTest] k=%d batch %d: %d drafts (by tokens in flight %s), acceptance %.3f,"
                + " flushes %d, prefix cache hits %d; largest logit difference %.2e%n", stages, batch, drafts.size(),
                java.util.Arrays.toString(byFill), t.acceptance(), t.flushes(), prefix[1], worst);
        assertTrue(drafts.size() >= t.draftsProposed(), "a head run per draft (and per draft a flush discards)");
        assertTrue(t.flushes() > 10 && t.draftsAccepted() > 10, "both verdicts, many times: " + t.acceptance());
        assertTrue(byFill[1] > 0 && byFill[stages] > 0, "drafts right after a flush and with a full pipeline");
        if (batch == 1) {
            assertTrue(prefix[1] > 0, "a prompt's start came from the prefix caches (the SPD head's included)");
        }
        assertTrue(worst < TOLERANCE, "cached drafts differ from the teacher-forced head by " + worst);
    }

    /** The teacher-forced draft logits after the last of {@code tokens} with {@code inFlight} of them in flight. */
    private static float[] teacherForced(LlamaModel m, SpdHead head, int[] tokens, int inFlight) {
        try (NDScope ignored = new NDScope()) {
            int n = m.config().numHiddenLayers();
            int[] anchors = head.anchors();
            AttentionBatch a = AttentionBatch.causal(m.manager(), m.rope(), 1, tokens.length);
            NDArray[] states = new NDArray[anchors.length];
            m.stack(0, n).forward(m.embed(m.manager(), new int[][] {tokens}), a, null, anchors, states);
            NDArray logits = head.teacherForcedLogits(m.manager(), m.rope(), new int[][] {tokens}, states,
                    new int[] {inFlight});
            float[][] rows = LlamaModel.rows(logits);
            return rows[rows.length - 1];
        }
    }

    @Test
    void aHeadForOtherStagesOrAnotherModelIsRefusedNamingTheFile() throws IOException {
        Path dir = modelWithHead(2);
        EngineOptions three = EngineOptions.of(dir).with(Settings.MODE, "spd").with(Settings.NUM_STAGES, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GenerationEngine.check(three,
                true));
        assertTrue(e.getMessage().contains("trained for 2 stages but the pipeline has 3"), e.getMessage());
        Path bare = SpecHarness.copyModel(model, tmp.resolve("bare"));
        e = assertThrows(IllegalArgumentException.class, () -> GenerationEngine.open(EngineOptions.of(bare)
                .with(Settings.MODE, "spd")).close());
        assertTrue(e.getMessage().contains("mode spd needs an SPD head in") && e.getMessage().contains(
                "distill-spd-head"), e.getMessage());
        // a head of a model with another hidden size
        LlamaConfig other = ControlledAcceptanceModel.config(6, 32, 320, List.of(1));
        Path otherModel = ControlledAcceptanceModel.write(tmp.resolve("other"), other, 1, LATE_SCALE, 8);
        Path otherHead = SpecHarness.writeSpdHead(otherModel, 2);
        Files.createDirectories(bare.resolve(SpdHead.DIR));
        for (String f : List.of("config.json", "model.safetensors")) {
            Files.copy(otherHead.resolve(f), bare.resolve(SpdHead.DIR).resolve(f));
        }
        ModelLoadException l = assertThrows(ModelLoadException.class, () -> GenerationEngine.check(
                EngineOptions.of(bare).with(Settings.MODE, "spd"), true));
        assertTrue(l.getMessage().contains("spd_head") && l.getMessage().contains("built for another model"),
                l.getMessage());
    }
}
