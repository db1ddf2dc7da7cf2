package dev.ppsd.engine.schedule;

import dev.ppsd.engine.settings.Settings;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.decode.FinishReason;
import dev.ppsd.engine.decode.GenerationRequest;
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
 * token still equals AR's. Drives the schedulers directly with token-id {@link Sequence}s.
 */
class ContextLimitTest {
    static final int CONTEXT = 32;

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
}
