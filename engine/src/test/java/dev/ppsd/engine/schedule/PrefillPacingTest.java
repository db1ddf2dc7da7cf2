package dev.ppsd.engine.schedule;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code prefill_tokens_per_cycle}: a pipeline lets at most that many prompt tokens start a cycle (the first waiting
 * prompt always starts), whatever the schedule, and the text stays the same (greedy: {@code ar}'s; sampled: the same
 * seeded text as unpaced); the caches are
 * still made once, for the longest of the sequences waiting for a free slot, not grown as longer ones start.
 */
class PrefillPacingTest {
    private static final int SLOTS = 6;
    /** Prompts of 10 to 21 tokens. */
    private static final int SHORTEST = 10;
    private static final int LONGEST = 21;

    @TempDir
    static Path tmp;
    static LlamaModel model;
    static Path dir;

    @BeforeAll
    static void load() throws IOException {
        LlamaConfig c = new LlamaConfig(32, 64, 4, 4, 2, 8, 1e-5f, 10000f, 64, 256, false, 0, List.of());
        dir = ControlledAcceptanceModel.writeWithoutTokenizer(tmp.resolve("model"), c, 2, 0.3, 8);
        model = LlamaModel.load(dir);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** 14 sequences, prompts of 10..21 tokens in a shuffled order, budgets of 3..16; odd ones sampled with a seed. */
    private static List<Sequence> sequences() {
        SplittableRandom r = new SplittableRandom(5);
        List<Sequence> out = new ArrayList<>();
        for (int i = 0; i < 14; i++) {
            int[] prompt = new int[SHORTEST + (i * 5) % (LONGEST - SHORTEST + 1)];
            for (int j = 0; j < prompt.length; j++) {
                prompt[j] = 2 + r.nextInt(62);
            }
            SamplingParams p = SamplingParams.greedy(3 + (i * 7) % 14);
            if (i % 2 == 1) {
                p = p.with(Settings.TEMPERATURE, 0.8).with(Settings.SEED, 40L + i);
            }
            out.add(new Sequence(new GenerationRequest("p" + i, "x", p), prompt, 256));
        }
        return out;
    }

    @Test
    void atMostThePacedPromptTokensStartACycleAndTheTextStaysTheSame() {
        StopCriteria stop = new StopCriteria(Set.of(), null);
        List<Sequence> oracle = sequences();
        try (Scheduler ar = SchedulerFactory.create(model, EngineOptions.of(dir).with(Settings.MODE, "ar")
                .with(Settings.BATCH_SIZE, SLOTS))) {
            ar.run(oracle, stop);
        }
        EngineOptions base = EngineOptions.of(dir).with(Settings.BATCH_SIZE, SLOTS).with(Settings.EXIT_HEAD, "shared")
                .with(Settings.EXIT_LAYER, 2);
        for (EngineOptions o : List.of(base.with(Settings.MODE, "ar-pipe"),
                base.with(Settings.MODE, "ppsd").with(Settings.SPECULATION, "always"),
                base.with(Settings.MODE, "ppsd").with(Settings.SPECULATION, "auto"))) {
            // 0: unpaced; 1: one prompt a cycle; 25: one or two (10 + 12 fit, no prompt of 21 has a partner)
            int[] paces = {0, 1, 25};
            int[] most = new int[paces.length];
            List<Sequence> unpaced = null;
            for (int i = 0; i < paces.length; i++) {
                String label = label(o) + " paced at " + paces[i];
                List<Sequence> got = sequences();
                try (PipelineScheduler s = (PipelineScheduler) SchedulerFactory.create(model,
                        o.with(Settings.PREFILL_TOKENS_PER_CYCLE, paces[i]))) {
                    PipelineTrace trace = s.trace(10_000);
                    s.run(got, stop);
                    for (PipelineTrace.Cycle c : trace.cycles()) {
                        most[i] = Math.max(most[i], c.prefillTokens()[0]);
                    }
                }
                for (int j = 0; j < got.size(); j++) {
                    // greedy: ar's text; sampled: the same seeded text as unpaced in this mode
                    List<Sequence> same = j % 2 == 0 ? oracle : unpaced != null ? unpaced : got;
                    assertArrayEquals(same.get(j).generated(), got.get(j).generated(), label + ", sequence " + j);
                }
                unpaced = unpaced != null ? unpaced : got;
            }
            String label = label(o);
            System.out.printf("[PrefillPacingTest] %s: at most %d, %d, %d prompt tokens started a cycle, unpaced and"
                    + " paced at 1 and 25%n", label, most[0], most[1], most[2]);
            assertTrue(most[0] > 25, label + " unpaced: three prompts start the first cycle, " + most[0] + " tokens");
            assertTrue(most[1] <= LONGEST, label + " paced at 1: one prompt a cycle, but " + most[1] + " tokens");
            assertTrue(most[2] <= 25, label + " paced at 25: " + most[2] + " tokens in a cycle");
        }
    }

    private static String label(EngineOptions o) {
        return o.get(Settings.MODE).equals("ppsd") ? "ppsd --speculation " + o.get(Settings.SPECULATION) : "ar-pipe";
    }

    @Test
    void theCachesAreMadeOnceForTheLongestSequenceWaitingForASlot() {
        // one prompt a cycle, the short ones first: the sixth needs twice the positions of the first
        List<Sequence> seqs = new ArrayList<>();
        for (int i = 0; i < SLOTS; i++) {
            int[] prompt = new int[i < SLOTS - 1 ? 8 : 40];
            Arrays.fill(prompt, 3 + i);
            seqs.add(new Sequence(new GenerationRequest("c" + i, "x", SamplingParams.greedy(i < SLOTS - 1 ? 4 : 30)),
                    prompt, 256));
        }
        try (PipelineScheduler s = (PipelineScheduler) SchedulerFactory.create(model, EngineOptions.of(dir)
                .with(Settings.MODE, "ar-pipe").with(Settings.BATCH_SIZE, SLOTS)
                .with(Settings.PREFILL_TOKENS_PER_CYCLE, 1))) {
            s.run(seqs, new StopCriteria(Set.of(), null));
            assertEquals(s.split().stages(), s.cacheAllocations(), "one allocation per stage");
        }
        for (Sequence q : seqs) {
            assertTrue(q.finished());
        }
    }
}
