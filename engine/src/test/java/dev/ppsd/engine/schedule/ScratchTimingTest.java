package dev.ppsd.engine.schedule;

import dev.ppsd.engine.EngineOptions;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.decode.SamplingParams;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ScratchTimingTest {
    @TempDir
    Path tmp;

    @Test
    void time() throws Exception {
        for (double s : new double[] {0, 0.5, 1, 2}) {
        Path dir = tmp.resolve("m" + s);
        long t0 = System.nanoTime();
        ControlledAcceptanceModel.write(dir, s, 7);
        System.out.printf("write %.0f ms%n", (System.nanoTime() - t0) / 1e6);
        List<GenerationRequest> reqs = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            reqs.add(new GenerationRequest("" + i, "In the beginning " + i + " light", SamplingParams.greedy(16)));
        }
        for (String mode : List.of("ar", "ppsd", "eesd")) {
            for (int b : new int[] {1, 8}) {
                EngineOptions o = EngineOptions.defaults(dir).withMode(mode).withBatchSize(b).withGamma("3");
                t0 = System.nanoTime();
                try (GenerationEngine e = GenerationEngine.open(o)) {
                    long t1 = System.nanoTime();
                    List<GenerationResult> rs = e.generate(reqs);
                    long acc = 0, prop = 0;
                    for (GenerationResult r : rs) { acc += r.spec().draftsAccepted(); prop += r.spec().draftsProposed(); }
                    System.out.printf("s=%.1f %s b=%d open %.0f ms gen %.0f ms acc %.3f %s%n", s, mode, b, (t1 - t0) / 1e6, (System.nanoTime() - t1) / 1e6,
                        (double) acc / prop, Arrays.toString(rs.get(0).tokenIds()));
                }
            }
        }
        }
    }
}
