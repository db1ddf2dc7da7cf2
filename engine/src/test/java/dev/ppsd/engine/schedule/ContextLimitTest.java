package dev.ppsd.engine.schedule;

import dev.ppsd.engine.settings.Settings;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.FinishReason;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sequences that run into the context length (max_position_embeddings = 32): the budget is clamped to the
 * context, ppsd stops drafting past the last position and EESD shortens its last rounds, and every committed
 * token still equals AR's. Drives the schedulers directly with token-id {@link Sequence}s. And budgets at the other
 * end: {@code max_new_tokens} of {@code Integer.MAX_VALUE} (or near it: the KV cache size was once computed as
 * prompt + max_new_tokens + lookahead, which overflowed) among normal requests in every mode, and 0.
 */
class ContextLimitTest {
    static final int CONTEXT = 32;
    /** The context of {@link ControlledAcceptanceModel}'s default shape. */
    static final int CONTEXT_256 = 256;

    @TempDir
    Path tmp;

    private static List<Sequence> sequences(int contextLength) {
        SplittableRandom r = new SplittableRandom(31);
        List<Sequence> out = new ArrayList<>();
        for (int i = 0; i < 14; i++) {
            int[] prompt = new int[18 + i]; // 18..31 tokens: 14 down to 1 positions left
            for (int j = 0; j < prompt.length; j++) {
                prompt[j] = 2 + r.nextInt(62);
            }
            out.add(new Sequence(new GenerationRequest("c" + i, "x", SamplingParams.greedy(20)), prompt,
                    contextLength));
        }
        return out;
    }

    @Test
    void committedTokensEqualArWhenTheContextEndsTheSequence() throws IOException {
        LlamaConfig c = new LlamaConfig(32, 64, 4, 4, 2, 8, 1e-5f, 10000f, 64, CONTEXT, false, 0, List.of());
        Path dir = ControlledAcceptanceModel.writeWithoutTokenizer(tmp.resolve("ctx32"), c, 2, 0.3, 8);
        StopCriteria stop = new StopCriteria(Set.of(), null);
        try (LlamaModel model = LlamaModel.load(dir)) {
            List<Sequence> oracle = sequences(CONTEXT);
            try (Scheduler ar = SchedulerFactory.create(model, EngineOptions.of(dir).with(Settings.MODE, "ar")
                    .with(Settings.BATCH_SIZE, 4))) {
                ar.run(oracle, stop);
            }
            for (Sequence s : oracle) {
                assertEquals(CONTEXT, s.totalLength(), "ar fills the context");
                assertEquals(FinishReason.LENGTH, s.finishReason());
            }
            EngineOptions base = EngineOptions.of(dir).with(Settings.EXIT_HEAD, "shared").with(Settings.SPECULATION, "always");
            List<EngineOptions> modes = List.of(
                    base.with(Settings.MODE, "ppsd").with(Settings.EXIT_LAYER, 2).with(Settings.BATCH_SIZE, 4),
                    base.with(Settings.MODE, "ppsd").with(Settings.EXIT_LAYER, 2).with(Settings.BATCH_SIZE, 1).with(Settings.STAGES, String.join(",", Collections.nCopies(3, "cpu"))),
                    base.with(Settings.MODE, "ppsd").with(Settings.EXIT_LAYER, 1).with(Settings.BATCH_SIZE, 5).with(Settings.STAGES, String.join(",", Collections.nCopies(4, "cpu"))),
                    base.with(Settings.MODE, "ar-pipe").with(Settings.BATCH_SIZE, 3).with(Settings.STAGES, String.join(",", Collections.nCopies(3, "cpu"))),
                    base.with(Settings.MODE, "eesd").with(Settings.EXIT_LAYER, 2).with(Settings.GAMMA, "8"),
                    base.with(Settings.MODE, "eesd").with(Settings.EXIT_LAYER, 1).with(Settings.GAMMA, "ts"));
            for (EngineOptions o : modes) {
                String label = o.get(Settings.MODE) + " k=" + o.stageDevices(List.of()).size() + " E=" + o.get(Settings.EXIT_LAYER) + " gamma=" + o.get(Settings.GAMMA);
                List<Sequence> got = sequences(CONTEXT);
                try (Scheduler s = SchedulerFactory.create(model, o)) {
                    s.run(got, stop);
                }
                long proposed = 0;
                for (int i = 0; i < got.size(); i++) {
                    assertArrayEquals(oracle.get(i).generated(), got.get(i).generated(), label + " sequence " + i);
                    assertEquals(FinishReason.LENGTH, got.get(i).finishReason(), label + " sequence " + i);
                    proposed += got.get(i).spec().draftsProposed();
                }
                System.out.printf("[ContextLimitTest] %-30s identical to ar up to the context end (%d drafts)%n", label,
                        proposed);
            }
        }
    }

    /** Budgets at and near {@code Integer.MAX_VALUE}: each + prompt + any lookahead overflows an int. */
    static final int[] HUGE = {Integer.MAX_VALUE, Integer.MAX_VALUE - 1, Integer.MAX_VALUE - 7};

    private static List<EngineOptions> everyMode(Path dir) {
        EngineOptions base = EngineOptions.of(dir).with(Settings.EXIT_HEAD, "shared").with(Settings.EXIT_LAYER, 2)
                .with(Settings.SPECULATION, "always").with(Settings.BATCH_SIZE, 4);
        return List.of(base,
                base.with(Settings.MODE, "ar-pipe").with(Settings.STAGES, "cpu,cpu"),
                base.with(Settings.MODE, "eesd").with(Settings.GAMMA, "ts"),
                base.with(Settings.MODE, "ppsd").with(Settings.STAGES, "cpu,cpu"),
                base.with(Settings.MODE, "ppsd").with(Settings.STAGES, "cpu,cpu,cpu").with(Settings.BATCH_SIZE, 3));
    }

    private static String label(EngineOptions o) {
        String mode = o.get(Settings.MODE);
        return mode.equals("ar") || mode.equals("eesd") ? mode
                : mode + " k=" + o.stageDevices(List.of()).size() + " batch " + o.get(Settings.BATCH_SIZE);
    }

    /** Greedy and sampled requests of 6 tokens (their ids start with "n"). */
    private static List<GenerationRequest> normalRequests() {
        List<String> prompts = SpecHarness.prompts(6, 17);
        List<GenerationRequest> out = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            SamplingParams p = SamplingParams.greedy(6);
            if (i % 2 == 1) {
                p = p.withValue(Settings.TEMPERATURE, 0.9).withValue(Settings.SEED, 300L + i);
            }
            out.add(new GenerationRequest("n" + i, prompts.get(i), p));
        }
        return out;
    }

    @Test
    void aBudgetNearIntegerMaxValueRunsToTheContextAndLeavesEveryOtherRowItsOwnText() throws IOException {
        // the default controlled model (context 256) without EOS, so only the context can end the huge rows
        Path dir = ControlledAcceptanceModel.write(tmp.resolve("no-eos"), 0.3, 23);
        ControlledAcceptanceModel.setEos(dir, List.of());
        List<GenerationRequest> normal = normalRequests();
        List<GenerationRequest> withHuge = new ArrayList<>(normal);
        for (int h = 0; h < HUGE.length; h++) {
            SamplingParams p = SamplingParams.greedy(HUGE[h]);
            if (h == 1) {
                p = p.withValue(Settings.TEMPERATURE, 0.9).withValue(Settings.SEED, 77L); // a sampled one as well
            }
            withHuge.add(1 + 3 * h, new GenerationRequest("huge" + h, "In the beginning", p)); // among the others
        }
        for (EngineOptions o : everyMode(dir)) {
            String label = label(o);
            List<GenerationResult> alone = SpecHarness.run(o, normal).results();
            List<GenerationResult> got = SpecHarness.run(o, withHuge).results();
            List<GenerationResult> others = new ArrayList<>();
            for (GenerationResult r : got) {
                if (r.id().startsWith("huge")) {
                    assertEquals(FinishReason.LENGTH, r.finishReason(), label + " " + r.id() + ": finish_reason");
                    assertEquals(CONTEXT_256, r.promptTokenIds().length + r.tokenIds().length,
                            label + " " + r.id() + ": runs to the context limit");
                } else {
                    others.add(r);
                }
            }
            SpecHarness.assertSameAsOracle(alone, others, Set.of(), label + ", a row beside max_new_tokens ~ 2^31");
            System.out.printf("[ContextLimitTest] %-22s max_new_tokens 2^31-1, 2^31-2, 2^31-8 ran to the context (%d"
                    + " tokens); %d other rows unchanged%n", label, CONTEXT_256, others.size());
        }
    }

    @Test
    void aZeroBudgetFinishesAtOnceWithASaneWallTime() throws IOException {
        Path dir = ControlledAcceptanceModel.write(tmp.resolve("zero"), 0.3, 29);
        List<GenerationRequest> requests = new ArrayList<>(normalRequests());
        requests.add(2, new GenerationRequest("zero", "In the beginning", SamplingParams.greedy(0)));
        for (EngineOptions o : everyMode(dir)) {
            try (GenerationEngine e = GenerationEngine.open(o)) {
                long t0 = System.nanoTime();
                List<GenerationResult> rs = e.generate(requests);
                double callMs = (System.nanoTime() - t0) / 1e6;
                GenerationResult zero = rs.get(2);
                String where = label(o) + " max_new_tokens 0";
                assertEquals(0, zero.tokenIds().length, where + ": tokens");
                assertEquals(FinishReason.LENGTH, zero.finishReason(), where + ": finish_reason");
                // it used to be System.nanoTime() - 0: the machine's uptime
                assertTrue(zero.wallMs() >= 0 && zero.wallMs() <= callMs, where + ": wall_ms " + zero.wallMs()
                        + " outside [0, " + callMs + "] (the generate call)");
                for (GenerationResult r : rs) {
                    assertTrue(r.wallMs() >= 0 && r.wallMs() <= callMs, label(o) + " " + r.id() + ": wall_ms "
                            + r.wallMs() + " outside [0, " + callMs + "]");
                }
            }
        }
    }
}
