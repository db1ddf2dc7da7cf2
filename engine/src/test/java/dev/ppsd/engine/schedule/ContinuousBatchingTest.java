package dev.ppsd.engine.schedule;

import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.FinishReason;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Continuous batching: requests of very different lengths, from several callers at once, share the engine's slots
 * (a slot is refilled as soon as its sequence ends) and each gets exactly its own tokens — the same as when it runs
 * alone, greedy and sampled — in every mode; a budget of Integer.MAX_VALUE runs to the context limit among them.
 */
class ContinuousBatchingTest {
    @TempDir
    static Path tmp;
    static Path model;

    @BeforeAll
    static void write() throws IOException {
        // no EOS: every request runs to its budget (or the context)
        model = ControlledAcceptanceModel.write(tmp.resolve("model"), ControlledAcceptanceModel.config(
                ControlledAcceptanceModel.LAYERS, 64, ControlledAcceptanceModel.VOCAB, List.of()), 2, 0.3, 17);
    }

    private static List<GenerationRequest> requests(String caller) {
        int[] budgets = {2, 37, 5, 1, 23, 9};
        String[] prompts = {"In the beginning", "And God said", "public static", "for (int i", "Let there be",
            "The quick brown fox"};
        List<GenerationRequest> out = new ArrayList<>();
        for (int i = 0; i < budgets.length; i++) {
            SamplingParams p = SamplingParams.greedy(budgets[i]).with(Settings.SEED, 100L * caller.hashCode() + i);
            if (i % 2 == 1) {
                p = p.with(Settings.TEMPERATURE, 0.9);
            }
            out.add(new GenerationRequest(caller + i, prompts[i], p));
        }
        // a budget that overflows any sum: clamped to what the context leaves
        out.add(new GenerationRequest(caller + "max", "In the", SamplingParams.greedy(Integer.MAX_VALUE)));
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"ar", "ar-pipe", "ppsd", "eesd"})
    void everyRequestOfConcurrentCallersGetsExactlyItsOwnTokens(String mode) throws Exception {
        EngineOptions o = EngineOptions.of(model).with(Settings.MODE, mode).with(Settings.BATCH_SIZE, 3)
                .with(Settings.EXIT_HEAD, "shared").with(Settings.EXIT_LAYER, 2);
        try (GenerationEngine engine = GenerationEngine.open(o)) {
            List<String> callers = List.of("a", "b", "c");
            ExecutorService pool = Executors.newFixedThreadPool(callers.size());
            List<Future<List<GenerationResult>>> together = new ArrayList<>();
            for (String c : callers) {
                together.add(pool.submit(() -> engine.generate(requests(c))));
            }
            int context = engine.model().config().maxPositionEmbeddings();
            for (int i = 0; i < callers.size(); i++) {
                List<GenerationRequest> reqs = requests(callers.get(i));
                List<GenerationResult> got = together.get(i).get();
                assertEquals(reqs.size(), got.size());
                for (int j = 0; j < reqs.size(); j++) {
                    GenerationResult alone = engine.generate(List.of(reqs.get(j))).get(0);
                    GenerationResult r = got.get(j);
                    assertNull(r.error(), mode + " " + r.id());
                    assertEquals(reqs.get(j).id(), r.id());
                    assertArrayEquals(alone.tokenIds(), r.tokenIds(), mode + " " + r.id() + ": as when it runs alone");
                }
                GenerationResult max = got.get(reqs.size() - 1);
                assertEquals(context - max.promptTokens(), max.newTokens(), mode + ": runs to the context limit");
                assertEquals(FinishReason.LENGTH, max.finishReason());
            }
            pool.shutdown();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ar", "ppsd"})
    void aZeroBudgetFinishesAtOnceWithASaneWallTime(String mode) {
        try (GenerationEngine engine = GenerationEngine.open(EngineOptions.of(model).with(Settings.MODE, mode)
                .with(Settings.EXIT_HEAD, "shared").with(Settings.EXIT_LAYER, 2))) {
            GenerationResult r = engine.generate(List.of(new GenerationRequest("z", "In the",
                    SamplingParams.greedy(0)))).get(0);
            assertEquals(0, r.newTokens());
            assertTrue(r.wallMs() >= 0 && r.wallMs() < 1000, "wall_ms " + r.wallMs());
            assertTrue(Double.isNaN(r.ttftMs()), "no first token: " + r.ttftMs());

            // with tokens: the first comes after the start and before the end of the sequence's decoding
            for (GenerationResult g : engine.generate(List.of(new GenerationRequest("a", "In the",
                    SamplingParams.greedy(6).with(Settings.IGNORE_EOS, true)), new GenerationRequest("b",
                    "And God said", SamplingParams.greedy(6).with(Settings.IGNORE_EOS, true))))) {
                assertEquals(6, g.newTokens());
                assertTrue(g.ttftMs() > 0 && g.ttftMs() < g.wallMs(), mode + " " + g.id() + ": first token "
                        + g.ttftMs() + " ms of " + g.wallMs());
                assertEquals((g.wallMs() - g.ttftMs()) / 5, g.tpotMs(), 1e-9);
            }
        }
    }

    /**
     * ar-pipe with every slot decoding moves the sequences through stage 0 a block of slots at a time (slots 0–3,
     * then 4–7), so that each batch attends over a run of cache slots in place: requests of many lengths end and are
     * replaced at all times, yet no such cycle's stage-0 batch spans two blocks, and most cycles run with the slots
     * full. (Taking the waiting entries in slot order from a rotating start, as before, mixed the blocks.) A prompt
     * being prefilled (a batch of its own) does not wait for its block's turn.
     */
    @Test
    void arPipeWithEverySlotTakenMovesABlockOfSlotsAtATime() {
        int slots = 8;
        List<GenerationRequest> reqs = new ArrayList<>();
        String[] prompts = {"In the beginning", "And God said", "public static", "for (int i", "Let there be",
            "The quick brown fox", "In", "And the earth was without form"};
        for (int i = 0; i < 48; i++) {
            reqs.add(new GenerationRequest("r" + i, prompts[i % prompts.length],
                    SamplingParams.greedy(3 + (i * 7) % 19)));
        }
        EngineOptions o = EngineOptions.of(model).with(Settings.MODE, "ar-pipe").with(Settings.BATCH_SIZE, slots)
                .with(Settings.NUM_STAGES, 2);
        try (GenerationEngine engine = GenerationEngine.open(o)) {
            PipelineTrace trace = ((PipelineScheduler) engine.scheduler()).trace(100_000);
            engine.generate(reqs);
            List<PipelineTrace.Cycle> cycles = trace.cycles();
            int full = 0;
            for (PipelineTrace.Cycle c : cycles) {
                if (c.sequences() < slots) {
                    continue;
                }
                full++;
                if (Arrays.stream(c.prefillTokens()).sum() > 0) {
                    continue; // a prompt in the pipe: a slot not decoding yet
                }
                int[] stage0 = c.slots()[0];
                int block = stage0.length == 0 ? 0 : stage0[0] / (slots / 2);
                for (int slot : stage0) {
                    assertEquals(block, slot / (slots / 2), "stage 0 ran slots " + Arrays.toString(stage0));
                }
            }
            assertTrue(full > cycles.size() / 2, full + " of " + cycles.size() + " cycles full");
        }
    }
}
