package dev.ppsd.engine.schedule;

import dev.ppsd.engine.settings.Settings;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.decode.SpecMetrics;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sampled output is a function of the request's seed (a retried Spark task must reproduce the same text), also in a
 * batch that mixes greedy and sampled rows under every mix of schedules (where greedy rows must still equal ar), and
 * the speculation metrics are consistent: accepted <= proposed, one draft verified per committed ppsd token, every
 * rejection a flush, the cycle count given by the accept / reject pattern ({@code 1} cycle after an accept,
 * {@code k} after a reject), and one busy / idle time per stage.
 */
class DeterminismAndMetricsTest {
    @TempDir
    static Path tmp;
    static Path model;
    static List<GenerationRequest> sampled;
    static List<GenerationRequest> greedy;

    @BeforeAll
    static void writeModel() throws IOException {
        // 4 layers, E = 2, late scale 0.3: greedy acceptance ~0.6 (see ControlledAcceptanceModelTest)
        model = ControlledAcceptanceModel.write(tmp.resolve("model"), 0.3, 11);
        List<String> prompts = SpecHarness.prompts(12, 99);
        sampled = new ArrayList<>();
        greedy = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            sampled.add(new GenerationRequest("r" + i, prompts.get(i),
                    SamplingParams.greedy(12).withValue(Settings.TEMPERATURE, 0.9f).withValue(Settings.TOP_K, 40).withValue(Settings.TOP_P, 0.95f).withValue(Settings.SEED, 1000 + i)));
            greedy.add(new GenerationRequest("g" + i, prompts.get(i), SamplingParams.greedy(12)));
        }
    }

    private static EngineOptions ppsd(int k, int batch) {
        return EngineOptions.of(model).with(Settings.MODE, "ppsd").with(Settings.STAGES, String.join(",", Collections.nCopies(k, "cpu")))
                .with(Settings.EXIT_LAYER, 2).with(Settings.EXIT_HEAD, "shared").with(Settings.BATCH_SIZE, batch).with(Settings.SPECULATION, "always");
    }

    private static EngineOptions eesd(String gamma) {
        return EngineOptions.of(model).with(Settings.MODE, "eesd").with(Settings.EXIT_LAYER, 2).with(Settings.EXIT_HEAD, "shared")
                .with(Settings.GAMMA, gamma);
    }

    private static List<String> texts(List<GenerationResult> rs) {
        return rs.stream().map(GenerationResult::text).toList();
    }

    // ------------------------------------------------------------------ determinism

    @Test
    void sameSeedSameTextForPpsdAndEesdWithSampling() {
        for (EngineOptions o : List.of(ppsd(2, 4), ppsd(3, 4), eesd("ts"), eesd("2"))) {
            String label = o.get(Settings.MODE) + " k=" + o.stageDevices(List.of()).size() + " gamma=" + o.get(Settings.GAMMA);
            List<GenerationResult> a = SpecHarness.run(o, sampled).results();
            List<GenerationResult> b = SpecHarness.run(o, sampled).results(); // a fresh engine: a retried task
            assertEquals(texts(a), texts(b), label + ": same seeds, different text");
            for (int i = 0; i < a.size(); i++) {
                assertArrayEquals(a.get(i).tokenIds(), b.get(i).tokenIds(), label + " request " + i);
            }
            // a request's output does not depend on which other requests share its batch
            if (o.get(Settings.MODE).equals("ppsd")) {
                List<GenerationResult> alone = SpecHarness.run(o.with(Settings.BATCH_SIZE, 1), sampled).results();
                assertEquals(texts(a), texts(alone), label + ": batch 4 vs batch 1");
            }
            // a different seed gives a different text for at least one request
            List<GenerationRequest> reseeded = sampled.stream().map(r -> new GenerationRequest(r.id(), r.prompt(),
                    r.params().withValue(Settings.SEED, r.params().get(Settings.SEED) + 7))).toList();
            assertNotEquals(texts(a), texts(SpecHarness.run(o, reseeded).results()), label + ": seed ignored");
            System.out.printf("[DeterminismAndMetricsTest] %-20s same seed -> same text for %d sampled requests%n",
                    label, a.size());
        }
    }

    @Test
    void sameSeedSameTextWithAdaptiveSpeculation() {
        // speculation=auto switches drafting on and off from measured stage times; sampled text must still be a
        // function of the seed only
        EngineOptions o = ppsd(2, 8).with(Settings.SPECULATION, "auto");
        List<GenerationResult> a = SpecHarness.run(o, sampled).results();
        List<GenerationResult> b = SpecHarness.run(o, sampled).results();
        List<GenerationResult> c = SpecHarness.run(o.with(Settings.BATCH_SIZE, 1), sampled).results();
        assertEquals(texts(a), texts(b), "ppsd speculation=auto: same seeds, different text between two runs");
        assertEquals(texts(a), texts(c), "ppsd speculation=auto: batch 8 vs batch 1 changed the sampled text");
    }

    @Test
    void sampledTextDoesNotDependOnTheScheduleMix() {
        // sampled sequences draft whatever the schedule; drafting, pipelined and lockstep cycles only change the
        // order in which their entries pass the stages, never which tokens are drafted or how the seed is used
        for (EngineOptions o : List.of(ppsd(2, 8), ppsd(3, 4))) {
            String label = "ppsd k=" + o.stageDevices(List.of()).size();
            List<GenerationResult> always = SpecHarness.run(o, sampled).results();
            List<GenerationResult> mixed = SpecHarness.run(o, sampled, true).results();
            assertEquals(texts(always), texts(mixed), label + ": a mix of schedules changed the sampled text");
        }
    }

    @Test
    void aBatchMixingGreedyAndSampledRowsGivesEachRowItsOwnTextUnderEveryScheduleMix() {
        // greedy rows are what the schedules act on (lock-step holds them back, pipelined cycles cap them at stage 0,
        // drafting is switched off for them), sampled rows must be left alone: in one batch, under a scripted mix of
        // every schedule, each greedy row must equal ar and each sampled row the sampled-only run of its seed
        List<GenerationRequest> mixedRows = new ArrayList<>();
        for (int i = 0; i < greedy.size(); i++) {
            mixedRows.add(i % 2 == 0 ? greedy.get(i) : sampled.get(i));
            mixedRows.add(i % 2 == 0 ? sampled.get(i) : greedy.get(i));
        }
        List<GenerationResult> ar = SpecHarness.run(EngineOptions.of(model), greedy).results();
        for (EngineOptions o : List.of(ppsd(2, 8), ppsd(3, 4), ppsd(3, 8))) {
            String label = "ppsd k=" + o.stageDevices(List.of()).size() + " batch " + o.get(Settings.BATCH_SIZE);
            List<GenerationResult> sampledOnly = SpecHarness.run(o, sampled).results();
            List<GenerationResult> mixed = SpecHarness.run(o, mixedRows, true).results();
            List<GenerationResult> greedyOut = new ArrayList<>();
            List<GenerationResult> sampledOut = new ArrayList<>();
            for (GenerationResult r : mixed) {
                (r.id().startsWith("g") ? greedyOut : sampledOut).add(r);
            }
            greedyOut.sort(java.util.Comparator.comparingInt(r -> Integer.parseInt(r.id().substring(1))));
            sampledOut.sort(java.util.Comparator.comparingInt(r -> Integer.parseInt(r.id().substring(1))));
            SpecHarness.assertSameAsOracle(ar, greedyOut, java.util.Set.of(), label + " mixed batch, greedy row vs ar");
            SpecHarness.assertSameAsOracle(sampledOnly, sampledOut, java.util.Set.of(), label
                    + " mixed batch, sampled row vs the sampled-only run of its seed");
            System.out.printf("[DeterminismAndMetricsTest] %-20s mixed batch under every schedule: %d greedy rows = ar,"
                    + " %d sampled rows = sampled-only run%n", label, greedyOut.size(), sampledOut.size());
        }
    }

    // ------------------------------------------------------------------ metrics

    @Test
    void ppsdMetricsAreConsistent() {
        for (int k : new int[] {2, 3}) {
            for (List<GenerationRequest> reqs : List.of(greedy, sampled)) {
                List<GenerationResult> rs = SpecHarness.run(ppsd(k, 4), reqs).results();
                SpecMetrics t = SpecHarness.total(rs);
                String label = "ppsd k=" + k + (reqs == greedy ? " greedy" : " sampled");
                System.out.printf("[DeterminismAndMetricsTest] %-20s drafts %d, accepted %d, flushes %d, cycles %d%n",
                        label, t.draftsProposed(), t.draftsAccepted(), t.flushes(), t.cycles());
                assertTrue(t.draftsAccepted() > 0 && t.flushes() > 0, label + ": want both accepts and rejects");
                for (GenerationResult r : rs) {
                    SpecMetrics m = r.spec();
                    String where = label + " request " + r.id() + " " + m;
                    int n = r.newTokens();
                    assertTrue(m.draftsAccepted() <= m.draftsProposed(), where + ": accepted > proposed");
                    assertEquals(n, m.draftsProposed(), where + ": each committed token verifies one draft");
                    assertEquals(m.draftsProposed() - m.draftsAccepted(), m.flushes(), where
                            + ": every rejected draft flushes the pipeline");
                    assertTrue(m.cycles() > 0, where + ": cycles");
                    // commit 1 after k cycles, then +1 after an accept and +k after a reject; the last commit's
                    // verdict is not followed by a cycle
                    long f = m.flushes();
                    long lo = k + (n - 1) + (long) (k - 1) * Math.max(0, f - 1);
                    long hi = k + (n - 1) + (long) (k - 1) * f;
                    assertTrue(m.cycles() >= lo && m.cycles() <= hi, where + ": cycles " + m.cycles()
                            + " outside [" + lo + ", " + hi + "] for " + n + " tokens and " + f + " flushes");
                    assertEquals(k, m.stageBusyMs().length, where + ": stage_busy_ms entries");
                    assertEquals(k, m.stageIdleMs().length, where + ": stage_idle_ms entries");
                    for (int b = 0; b < k; b++) {
                        assertTrue(m.stageBusyMs()[b] > 0, where + ": stage " + b + " never busy");
                        assertTrue(m.stageIdleMs()[b] >= -1e-6, where + ": negative idle time on stage " + b);
                    }
                }
            }
        }
    }

    @Test
    void eesdCommitsAcceptedDraftsPlusOneCorrectionOrBonusPerRound() {
        for (String gamma : List.of("1", "3", "ts")) {
            List<GenerationResult> rs = SpecHarness.run(eesd(gamma), greedy).results();
            for (GenerationResult r : rs) {
                SpecMetrics m = r.spec();
                String where = "eesd gamma=" + gamma + " request " + r.id() + " " + m;
                assertTrue(m.draftsAccepted() <= m.draftsProposed(), where + ": accepted > proposed");
                assertTrue(m.cycles() > 0, where + ": rounds");
                assertTrue(m.flushes() <= m.cycles(), where + ": at most one rejection per round");
                assertEquals(m.draftsProposed() - m.draftsAccepted(), m.flushes(),
                        where + ": a round stops at its first rejected draft");
                // the prefill's token, then per round its accepted drafts and one target token (correction or
                // bonus), except that the last round may end inside its accepted drafts
                long base = m.draftsAccepted() + m.cycles();
                assertTrue(r.newTokens() == base || r.newTokens() == base + 1, where + ": " + r.newTokens()
                        + " tokens but accepted + rounds = " + base);
                if (!gamma.equals("ts")) {
                    assertTrue(m.draftsProposed() <= (long) Integer.parseInt(gamma) * m.cycles(), where
                            + ": more than gamma drafts per round");
                }
            }
        }
        for (GenerationResult r : SpecHarness.run(EngineOptions.of(model).with(Settings.MODE, "ar"), greedy).results()) {
            assertEquals(0, r.spec().draftsProposed(), "ar proposes nothing");
            assertTrue(Double.isNaN(r.spec().acceptance()), "ar acceptance is NaN");
        }
        // ar-pipe with as many sequences as stages: admitted one per cycle, they stay spread over the stages and
        // every token takes exactly k = 3 cycles
        EngineOptions pipe = EngineOptions.of(model).with(Settings.MODE, "ar-pipe").with(Settings.STAGES, String.join(",", List.of("cpu", "cpu", "cpu")))
                .with(Settings.BATCH_SIZE, 3);
        for (GenerationResult r : SpecHarness.run(pipe, greedy).results()) {
            assertEquals(0, r.spec().draftsProposed(), "ar-pipe proposes nothing");
            assertEquals(3L * r.newTokens(), r.spec().cycles(), "ar-pipe: every token takes k = 3 cycles");
            assertEquals(3, r.spec().stageBusyMs().length);
        }
        // 4 sequences on 3 stages: stage 0 takes at most 2 new tokens a cycle, so a token may wait a cycle there
        long tokens = 0;
        long cycles = 0;
        for (GenerationResult r : SpecHarness.run(pipe.with(Settings.BATCH_SIZE, 4), greedy).results()) {
            assertTrue(r.spec().cycles() >= 3L * r.newTokens(), "ar-pipe: a token takes at least k cycles " + r.spec());
            tokens += r.newTokens();
            cycles += r.spec().cycles();
        }
        assertTrue(cycles <= 4 * tokens, "ar-pipe batch 4: " + cycles + " cycles for " + tokens + " tokens");
    }
}
