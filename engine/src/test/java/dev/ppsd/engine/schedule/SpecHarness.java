package dev.ppsd.engine.schedule;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.decode.Sampler;
import dev.ppsd.engine.decode.SpecMetrics;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.SpdHead;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/** Test helpers shared by the scheduler tests: prompts, engine runs, result comparison and metric totals. */
final class SpecHarness {
    private static final String[] WORDS = ("In the beginning God created heaven and earth . the earth was without"
            + " form void darkness upon face of deep And said Let there be light : public static int add ( a b )"
            + " { return + ; } for i = 0 < n ++ sum values [ ] The quick brown fox jumps over lazy dog 0123456789")
            .split(" ");

    private SpecHarness() {
    }

    /** {@code n} prompts of 1 to 8 words drawn from the tiny tokenizer's training text. */
    static List<String> prompts(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int words = 1 + r.nextInt(8);
            StringBuilder sb = new StringBuilder();
            for (int w = 0; w < words; w++) {
                sb.append(w == 0 ? "" : " ").append(WORDS[r.nextInt(WORDS.length)]);
            }
            out.add(sb.toString());
        }
        return out;
    }

    /** One engine run: the results and the wall time of {@code generate}. */
    record Run(List<GenerationResult> results, double ms) {
        SpecMetrics total() {
            return SpecHarness.total(results);
        }
    }

    static Run run(EngineOptions o, List<GenerationRequest> requests) {
        return run(o, requests, false);
    }

    /**
     * As {@link #run(EngineOptions, List)}; with {@code mixedSchedules} a ppsd pipeline runs a scripted, seeded mix
     * of drafting, pipelined and lockstep cycles in runs of 1 to 6 cycles, so every transition between them
     * happens many times.
     */
    static Run run(EngineOptions o, List<GenerationRequest> requests, boolean mixedSchedules) {
        try (GenerationEngine e = GenerationEngine.open(o)) {
            MixedSchedules mix = mixedSchedules ? new MixedSchedules(o.stageDevices(List.of()).size()) : null;
            if (mix != null) {
                ((PipelineScheduler) e.scheduler()).decideWith(mix);
            }
            long t0 = System.nanoTime();
            List<GenerationResult> r = e.generate(requests);
            double ms = (System.nanoTime() - t0) / 1e6;
            for (GenerationResult g : r) {
                assertTrue(g.ok(), "request " + g.id() + " failed: " + g.error());
            }
            if (mix != null) {
                assertTrue(Arrays.stream(mix.cycles).allMatch(c -> c > 0), "every schedule ran: "
                        + Arrays.toString(mix.cycles));
            }
            return new Run(r, ms);
        }
    }

    /** Every schedule, in seeded random order (never the same twice in a row) and run lengths; counts the cycles of each. */
    static final class MixedSchedules extends SpeculationController {
        private final SplittableRandom random = new SplittableRandom(42);
        private Schedule schedule = Schedule.DRAFT;
        private int left;
        final int[] cycles = new int[Schedule.values().length];

        MixedSchedules(int stages) {
            super(true, stages);
        }

        @Override
        Schedule next(int active) {
            if (left-- <= 0) {
                Schedule[] others = Arrays.stream(Schedule.values()).filter(x -> x != schedule).toArray(Schedule[]::new);
                schedule = others[random.nextInt(others.length)];
                left = random.nextInt(6);
            }
            cycles[schedule.ordinal()]++;
            return schedule;
        }
    }

    /**
     * For each greedy result of the model in {@code modelDir}: runs prompt + generated tokens through the model in
     * one cached pass and checks every generated token against that pass's argmax, up to the first position whose
     * top-2 logit gap is below {@code nearTie} (a near-tie, where batch shapes may legitimately decide differently);
     * returns the smallest gap seen per result (below {@code nearTie} when the result met a near-tie).
     */
    static double[] smallestGaps(java.nio.file.Path modelDir, List<GenerationResult> results, double nearTie) {
        return smallestGaps(modelDir, ai.djl.ndarray.types.DataType.FLOAT32, results, nearTie);
    }

    /** As {@link #smallestGaps(java.nio.file.Path, List, double)} with the model loaded in {@code type}. */
    static double[] smallestGaps(java.nio.file.Path modelDir, ai.djl.ndarray.types.DataType type,
            List<GenerationResult> results, double nearTie) {
        double[] out = new double[results.size()];
        try (LlamaModel m = LlamaModel.load(modelDir, ai.djl.Device.cpu(), type)) {
            for (int i = 0; i < results.size(); i++) {
                GenerationResult r = results.get(i);
                int p = r.promptTokenIds().length;
                int n = r.tokenIds().length;
                int[] all = new int[p + n];
                System.arraycopy(r.promptTokenIds(), 0, all, 0, p);
                System.arraycopy(r.tokenIds(), 0, all, p, n);
                float[][] logits;
                try (KvCache cache = m.newCache(1, all.length)) {
                    logits = m.forwardLogits(cache, 0, all, 0);
                }
                out[i] = Double.MAX_VALUE;
                for (int j = 0; j < n; j++) {
                    float[] l = logits[p - 1 + j];
                    double gap = gap(l);
                    out[i] = Math.min(out[i], gap);
                    if (gap < nearTie) {
                        break;
                    }
                    assertEquals(Sampler.argmax(l), r.tokenIds()[j], "ar token " + j + " of request " + r.id()
                            + " is not the argmax of a full forward (gap " + gap + ")");
                }
            }
        }
        return out;
    }

    /** The top-1 minus the top-2 logit. */
    static double gap(float[] l) {
        double a = Double.NEGATIVE_INFINITY;
        double b = Double.NEGATIVE_INFINITY;
        for (float x : l) {
            if (x > a) {
                b = a;
                a = x;
            } else if (x > b) {
                b = x;
            }
        }
        return a - b;
    }

    /**
     * Writes an untrained SPD head for a {@code stages}-stage pipeline into {@code modelDir/spd_head}, with the split
     * and anchors {@code distill-spd-head} would use: {@link SpdHead#init} (it drafts as the shared head after layer
     * 1 would from embeddings) with seeded noise on its projections and anchor norms (std 0.25 / sqrt(fan-in), and
     * 0.25 / 3), so every anchor and row type moves its drafts and its acceptance is mid-range; returns the folder.
     */
    static java.nio.file.Path writeSpdHead(java.nio.file.Path modelDir, int stages) throws java.io.IOException {
        java.nio.file.Path dir = modelDir.resolve(SpdHead.DIR);
        try (LlamaModel m = LlamaModel.load(modelDir); ai.djl.ndarray.NDManager sub = m.manager().newSubManager()) {
            SpdHead head = DrafterPlan.initSpdHead(m, stages, 1, 0, null, sub);
            SplittableRandom r = new SplittableRandom(31);
            head.named().forEach((name, a) -> {
                if (name.contains("spd_")) {
                    long[] shape = a.getShape().getShape();
                    double std = shape.length == 1 ? 0.25 / 3 : 0.25 / Math.sqrt(shape[1]);
                    float[] v = a.toFloatArray();
                    for (int i = 0; i < v.length; i++) {
                        v[i] += (float) (std * Math.sqrt(-2 * Math.log(1 - r.nextDouble()))
                                * Math.cos(2 * Math.PI * r.nextDouble()));
                    }
                    a.set(v);
                }
            });
            head.save(dir);
        }
        return dir;
    }

    /** A copy of the model folder {@code from} (config, weights, tokenizer) at {@code to}, for another SPD head. */
    static java.nio.file.Path copyModel(java.nio.file.Path from, java.nio.file.Path to) throws java.io.IOException {
        java.nio.file.Files.createDirectories(to);
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json")) {
            if (java.nio.file.Files.exists(from.resolve(f))) {
                java.nio.file.Files.copy(from.resolve(f), to.resolve(f),
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
        return to;
    }

    /** Sums of the counters over results (stage times left empty). */
    static SpecMetrics total(List<GenerationResult> results) {
        long p = 0;
        long a = 0;
        long c = 0;
        long f = 0;
        for (GenerationResult r : results) {
            p += r.spec().draftsProposed();
            a += r.spec().draftsAccepted();
            c += r.spec().cycles();
            f += r.spec().flushes();
        }
        return new SpecMetrics(p, a, c, f, new double[0], new double[0]);
    }

    /**
     * Asserts every result not listed in {@code skip} (by index) equals the oracle's: token ids, text and
     * finish reason. Returns the number compared.
     */
    static int assertSameAsOracle(List<GenerationResult> oracle, List<GenerationResult> got, Set<Integer> skip,
            String label) {
        assertEquals(oracle.size(), got.size(), label + ": result count");
        int compared = 0;
        for (int i = 0; i < oracle.size(); i++) {
            if (skip.contains(i)) {
                continue;
            }
            GenerationResult want = oracle.get(i);
            GenerationResult r = got.get(i);
            String where = label + ", request " + want.id() + " (prompt ids " + Arrays.toString(want.promptTokenIds())
                    + ")";
            assertEquals(want.id(), r.id(), where + ": id");
            assertArrayEquals(want.tokenIds(), r.tokenIds(), where + ": committed token ids differ from ar\n  ar:   "
                    + Arrays.toString(want.tokenIds()) + "\n  got:  " + Arrays.toString(r.tokenIds()));
            assertEquals(want.text(), r.text(), where + ": text");
            assertEquals(want.finishReason(), r.finishReason(), where + ": finish_reason");
            compared++;
        }
        return compared;
    }
}
