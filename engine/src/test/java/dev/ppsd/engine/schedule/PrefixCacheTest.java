package dev.ppsd.engine.schedule;

import dev.ppsd.engine.GenerationEngine;
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
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Prefix reuse: prompts that share a long prefix get exactly the tokens they get without it (greedy and seeded
 * sampled), in every mode, while the prefix's blocks are copied in instead of computed; a small KV budget evicts
 * blocks and still changes nothing; a request that can never fit the budget fails alone.
 */
class PrefixCacheTest {
    @TempDir
    static Path tmp;
    static Path model;
    static final String SHARED = "You are a careful assistant. Answer in one short line, plainly, without lists. ";

    @BeforeAll
    static void write() throws IOException {
        model = ControlledAcceptanceModel.write(tmp.resolve("model"), 0.3, 23);
        SpecHarness.writeSpdHead(model, 2);
    }

    private static List<GenerationRequest> requests() {
        String[] tails = {"In the beginning", "And God said", "public static int", "Let there be", "The fox",
            "for (int i = 0;"};
        List<GenerationRequest> out = new ArrayList<>();
        for (int i = 0; i < tails.length; i++) {
            SamplingParams p = SamplingParams.greedy(6).with(Settings.SEED, 7L + i);
            out.add(new GenerationRequest("r" + i, SHARED + tails[i], i % 2 == 0 ? p : p.with(Settings.TEMPERATURE,
                    0.8)));
        }
        return out;
    }

    private static EngineOptions options(String mode, boolean prefix) {
        return EngineOptions.of(model).with(Settings.MODE, mode).with(Settings.BATCH_SIZE, 3)
                .with(Settings.PREFIX_CACHE, prefix).with(Settings.EXIT_HEAD, "shared").with(Settings.EXIT_LAYER, 2);
    }

    @ParameterizedTest
    @ValueSource(strings = {"ar", "ar-pipe", "ppsd", "spd"})
    void sharedPrefixesAreReusedAndChangeNothing(String mode) {
        List<GenerationResult> off;
        try (GenerationEngine e = GenerationEngine.open(options(mode, false))) {
            off = e.generate(requests());
            assertEquals(0, e.scheduler().prefixCacheCounts()[1]);
        }
        try (GenerationEngine e = GenerationEngine.open(options(mode, true))) {
            List<GenerationResult> on = e.generate(requests());
            // a second pass: every prompt's prefix is in the cache by now
            List<GenerationResult> again = e.generate(requests());
            for (int i = 0; i < off.size(); i++) {
                assertNull(on.get(i).error());
                assertArrayEquals(off.get(i).tokenIds(), on.get(i).tokenIds(), mode + " " + off.get(i).id());
                assertArrayEquals(off.get(i).tokenIds(), again.get(i).tokenIds(), mode + " again " + off.get(i).id());
            }
            long[] counts = e.scheduler().prefixCacheCounts();
            int prefixTokens = e.tokenizer().encode(SHARED).length;
            assertTrue(counts[1] >= requests().size(), mode + ": reuses " + java.util.Arrays.toString(counts));
            assertTrue(counts[2] >= (long) requests().size() * (prefixTokens / 16) * 16,
                    mode + ": reused tokens " + java.util.Arrays.toString(counts));
        }
    }

    @Test
    void aSmallBudgetEvictsBlocksAndStillChangesNothing() {
        List<GenerationResult> off;
        try (GenerationEngine e = GenerationEngine.open(options("ar", false))) {
            off = e.generate(requests());
        }
        // 1 MB: 200 KB for the prefix cache, a few blocks of this model
        try (GenerationEngine e = GenerationEngine.open(options("ar", true).with(Settings.KV_CACHE_MB, 1))) {
            for (int round = 0; round < 2; round++) {
                List<GenerationResult> on = e.generate(requests());
                for (int i = 0; i < off.size(); i++) {
                    assertArrayEquals(off.get(i).tokenIds(), on.get(i).tokenIds(), off.get(i).id());
                }
            }
            ArScheduler ar = (ArScheduler) e.scheduler();
            assertTrue(ar.prefixBlocks() * KvBudget.bytesPerPosition(e.model().config(), 4, e.model().dataType()) * 16 <= 200 * 1024 + 1,
                    "blocks " + ar.prefixBlocks());
        }
    }

    @Test
    void aRequestThatCanNeverFitTheBudgetFailsAlone() {
        // 1 MB for 8 slots of 1 KB per position: about 100 positions per sequence, less than the context (256)
        try (GenerationEngine e = GenerationEngine.open(options("ar", true).with(Settings.KV_CACHE_MB, 1)
                .with(Settings.BATCH_SIZE, 8))) {
            List<GenerationResult> r = e.generate(List.of(
                    new GenerationRequest("ok", "In the beginning", SamplingParams.greedy(4)),
                    new GenerationRequest("huge", "In the beginning", SamplingParams.greedy(Integer.MAX_VALUE))));
            assertNull(r.get(0).error());
            assertEquals(4, r.get(0).newTokens());
            assertTrue(r.get(1).error().startsWith("needs "), r.get(1).error());
            assertTrue(r.get(1).error().contains("kv_cache_mb=1 holds at most"), r.get(1).error());
        }
    }
}
