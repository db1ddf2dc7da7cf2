package dev.ppsd.engine.schedule;

import dev.ppsd.engine.settings.Settings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.decode.SpecMetrics;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@link ControlledAcceptanceModel} dial works: sweeping the late-layer scale s from 0 upwards, the measured
 * greedy acceptance of the shared head at E (ppsd, k = 2) falls monotonically from exactly 1 to a low value.
 */
class ControlledAcceptanceModelTest {
    static final double[] SCALES = {0.0, 0.15, 0.3, 0.5, 1.0, 2.0};
    /** Allowed rise from one scale to the next (sampling noise of ~300 drafts). */
    static final double NOISE = 0.03;

    @TempDir
    Path tmp;

    @Test
    void greedyAcceptanceFallsMonotonicallyWithLateScale() throws IOException {
        List<GenerationRequest> reqs = new ArrayList<>();
        List<String> prompts = SpecHarness.prompts(20, 5);
        for (int i = 0; i < prompts.size(); i++) {
            reqs.add(new GenerationRequest("c" + i, prompts.get(i), SamplingParams.greedy(16)));
        }
        double[] acc = new double[SCALES.length];
        StringBuilder table = new StringBuilder(String.format("%n  %-6s %-10s %-9s %-8s %s%n", "s", "acceptance",
                "drafts", "flushes", "PPSD bound k/(a + k(1-a)), k=2"));
        for (int i = 0; i < SCALES.length; i++) {
            Path dir = ControlledAcceptanceModel.write(tmp.resolve("s" + i), SCALES[i], 7);
            EngineOptions o = EngineOptions.of(dir).with(Settings.MODE, "ppsd").with(Settings.EXIT_HEAD, "shared")
                    .with(Settings.EXIT_LAYER, ControlledAcceptanceModel.EXIT_LAYER).with(Settings.BATCH_SIZE, 8).with(Settings.SPECULATION, "always");
            SpecMetrics t = SpecHarness.run(o, reqs).total();
            acc[i] = t.acceptance();
            table.append(String.format("  %-6.2f %-10.3f %-9d %-8d %.2f%n", SCALES[i], acc[i], t.draftsProposed(),
                    t.flushes(), 2 / (acc[i] + 2 * (1 - acc[i]))));
        }
        System.out.println("[ControlledAcceptanceModelTest] greedy acceptance vs late-layer scale (4 layers, E=2,"
                + " shared head, 20 prompts x 16 tokens):" + table);
        assertEquals(1.0, acc[0], "s = 0: the shared head at E is the target, every draft is accepted");
        for (int i = 1; i < acc.length; i++) {
            assertTrue(acc[i] <= acc[i - 1] + NOISE, "acceptance rose from " + acc[i - 1] + " (s=" + SCALES[i - 1]
                    + ") to " + acc[i] + " (s=" + SCALES[i] + ")");
        }
        assertTrue(acc[acc.length - 1] < 0.2, "largest scale should give low acceptance: " + acc[acc.length - 1]);
        assertTrue(acc[1] > 0.6, "a small scale should keep acceptance high: " + acc[1]);
    }
}
