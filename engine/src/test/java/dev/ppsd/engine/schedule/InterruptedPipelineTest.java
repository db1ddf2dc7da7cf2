package dev.ppsd.engine.schedule;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pipeline reused after a caller was interrupted mid-generate (a Spark task kill; the executor's engine then
 * serves the next task): a stage whose task still runs refuses to have its caches reallocated, instead of freeing
 * them under the running task, and the engine gives the interrupted caller's successor the same text as a fresh one.
 */
class InterruptedPipelineTest {
    @TempDir
    static Path tmp;
    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = ControlledAcceptanceModel.write(tmp.resolve("model"), 0.3, 11);
    }

    @Test
    void aStageStillRunningATaskRefusesToReallocateItsCaches() throws Exception {
        try (LlamaModel m = LlamaModel.load(model);
                PipelineStage stage = new PipelineStage(m, 1, 2, 2, 4, Device.cpu(), -1)) {
            assertTrue(stage.startEnsuringCaches(2, 32, 32));
            stage.awaitCaches();
            CountDownLatch release = new CountDownLatch(1);
            stage.worker().start(() -> {
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            // the task of an interrupted cycle still runs on this stage: closing its caches now would free memory
            // a running forward reads and writes
            IllegalStateException e = assertTimeoutPreemptively(Duration.ofSeconds(10),
                    () -> assertThrows(IllegalStateException.class, () -> stage.startEnsuringCaches(2, 64, 64)));
            assertTrue(e.getMessage().contains("ppsd-stage-1 is still running task 2"), e.getMessage());
            release.countDown();
            stage.releaseCaches(); // kept: the task still uses them
            stage.worker().await();
            assertTrue(stage.startEnsuringCaches(2, 64, 64));
            stage.awaitCaches();
            assertFalse(stage.startEnsuringCaches(2, 64, 64), "they hold 64 positions already: nothing to start");
            stage.releaseCaches();
        }
    }

    @Test
    void anEngineReusedAfterAnInterruptedGenerateIsRefusedOrRightNeverWrong() throws Exception {
        EngineOptions o = EngineOptions.of(model).with(Settings.MODE, "ppsd").with(Settings.STAGES, "cpu,cpu,cpu")
                .with(Settings.EXIT_LAYER, 2).with(Settings.EXIT_HEAD, "shared").with(Settings.BATCH_SIZE, 4)
                .with(Settings.SPECULATION, "always");
        List<GenerationRequest> requests = new ArrayList<>();
        List<String> prompts = SpecHarness.prompts(6, 5);
        for (int i = 0; i < prompts.size(); i++) {
            // long prompts: a stage's prefill outlasts the coordinator's spin, so the interrupt lands in an await
            String prompt = String.join(" ", java.util.Collections.nCopies(6, prompts.get(i)));
            requests.add(new GenerationRequest("r" + i, prompt, SamplingParams.greedy(10)
                    .withValue(Settings.PROMPT_TOO_LONG, "truncate")));
        }
        List<GenerationResult> oracle = SpecHarness.run(o, requests).results();
        try (GenerationEngine e = GenerationEngine.open(o)) {
            Thread.currentThread().interrupt();
            String first;
            try {
                e.generate(requests);
                first = "the interrupt landed outside an await: generate finished";
            } catch (IllegalStateException interrupted) {
                assertTrue(interrupted.getMessage().contains("interrupted while waiting for the engine"),
                        interrupted.getMessage());
                first = "generate interrupted";
            } finally {
                Thread.interrupted();
            }
            int refused = 0;
            List<GenerationResult> again = null;
            while (again == null) {
                try {
                    again = e.generate(requests);
                } catch (IllegalStateException busy) {
                    assertTrue(busy.getMessage().contains("is still running task"), busy.getMessage());
                    assertTrue(++refused < 1000, "a stage never finished its interrupted task");
                    Thread.sleep(1);
                }
            }
            SpecHarness.assertSameAsOracle(oracle, again, Set.of(), "reused after an interrupt");
            System.out.printf("[InterruptedPipelineTest] %s; reuse refused %d times, then the same text as a fresh"
                    + " engine%n", first, refused);
        }
    }
}
