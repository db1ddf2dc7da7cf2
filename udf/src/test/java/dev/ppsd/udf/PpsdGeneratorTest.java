package dev.ppsd.udf;

import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.SamplingParams;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import ai.djl.ndarray.NDManager;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.SpdHead;
import dev.ppsd.engine.schedule.DrafterPlan;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Dataset API end to end: real local Spark, real engine, compared with calling the engine directly. */
class PpsdGeneratorTest {
    static final String[] PROMPTS = {"In the beginning", "And God said", "public static int", "for (int i = 0;",
            "The quick brown fox", "darkness was upon", "Let there be light", "return a + b;", "the face of the deep",
            "sum += values[i];", "0123456789", "And the earth"};

    static Dataset<Row> prompts(int partitions) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < PROMPTS.length; i++) {
            rows.add(RowFactory.create(100 + i, PROMPTS[i]));
        }
        return TestSpark.table(new StructType().add("id", "int").add("prompt", "string"), rows, partitions);
    }

    /** What the engine gives for PROMPTS called directly with the seeds the generator derives from the ids. */
    static List<GenerationResult> expected(SamplingParams params, long jobSeed) {
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < PROMPTS.length; i++) {
            String id = String.valueOf(100 + i);
            requests.add(new GenerationRequest(id, PROMPTS[i], params.withValue(Settings.SEED, RowSeeds.forRow(jobSeed, id))));
        }
        return TestSpark.direct(requests);
    }

    static PpsdGenerator generator() {
        return new PpsdGenerator().setParam("model", TestSpark.model().toString()).setParam("batch_size", 4).setParam("max_new_tokens", 6);
    }

    private static void assertSameAsEngine(List<Row> out, List<GenerationResult> want) {
        assertEquals(want.size(), out.size());
        for (int i = 0; i < out.size(); i++) {
            Row r = out.get(i);
            GenerationResult w = want.get(i);
            assertEquals(100 + i, r.getInt(r.fieldIndex("id")));
            assertEquals(PROMPTS[i], r.getString(r.fieldIndex("prompt")));
            assertNull(r.get(r.fieldIndex("error")), "row " + r);
            assertEquals(w.text(), r.getString(r.fieldIndex("generated_text")), "row " + r);
            assertEquals(w.finishReason().wire(), r.getString(r.fieldIndex("finish_reason")));
            assertEquals(w.promptTokens(), r.getInt(r.fieldIndex("prompt_tokens")));
            assertEquals(w.newTokens(), r.getInt(r.fieldIndex("new_tokens")));
            // acceptance: a rate where drafts were proposed (how many depends on the controller's timing), else null
            Object acceptance = r.get(r.fieldIndex("acceptance"));
            assertTrue(acceptance == null || ((Double) acceptance >= 0 && (Double) acceptance <= 1), "row " + r);
            assertTrue(r.getDouble(r.fieldIndex("tokens_per_s")) > 0);
        }
    }

    @Test
    void greedyRowsComeBackOnePerInputWithTheEnginesTextAndOneEnginePerJvm() {
        PpsdGenerator gen = generator();
        List<Row> out = TestSpark.sorted(gen.transform(prompts(4)).collectAsList(), "id");

        assertSameAsEngine(out, expected(SamplingParams.greedy(6), 0));
        EngineOptions key = gen.settings(true).handle().localOptions(null);
        assertEquals(1, EngineHandle.opened(key), "one engine for all 4 partitions / 2 task threads of the JVM");

        // a second job on the same executor reuses it
        assertEquals(PROMPTS.length, gen.transform(prompts(3)).count());
        assertEquals(1, EngineHandle.opened(key));
    }

    @Test
    void twoConcurrentPartitionsSharingOneEngineEachGetTheirOwnRowsBack() {
        // batchSize 8 > rows per partition (6): the two tasks' rows can meet in one engine call
        PpsdGenerator gen = generator().setParam("batch_size", 8).setParam("temperature", 0.8).setParam("seed", 9);
        EngineOptions key = gen.settings(true).handle().localOptions(null);

        List<Row> out = TestSpark.sorted(gen.transform(prompts(2)).collectAsList(), "id");
        assertSameAsEngine(out, expected(SamplingParams.greedy(6).withValue(Settings.TEMPERATURE, 0.8f), 9));
        int peak = EngineHandle.engine(key).peakInFlight();
        assertTrue(peak > 6, "the rows of the 2 tasks (6 each) were in flight together: peak " + peak);
    }

    @Test
    void sampledRowsUseTheSeedDerivedFromTheirIdWhateverThePartitioning() {
        PpsdGenerator gen = generator().setParam("temperature", 0.9).setParam("top_k", 40).setParam("top_p", 0.95).setParam("seed", 42);
        SamplingParams params = SamplingParams.greedy(6).withValue(Settings.TEMPERATURE, 0.9f).withValue(Settings.TOP_K, 40).withValue(Settings.TOP_P, 0.95f);
        List<Row> twoParts = TestSpark.sorted(gen.transform(prompts(2)).collectAsList(), "id");
        assertSameAsEngine(twoParts, expected(params, 42));
        List<Row> fiveParts = TestSpark.sorted(gen.transform(prompts(5)).collectAsList(), "id");
        assertEquals(twoParts.stream().map(r -> r.getString(r.fieldIndex("generated_text"))).toList(),
                fiveParts.stream().map(r -> r.getString(r.fieldIndex("generated_text"))).toList());
    }

    @Test
    void accumulatorsCountRowsTokensAndDrafts() {
        PpsdGenerator gen = generator().setParam("mode", "ar");
        List<Row> out = gen.transform(prompts(2)).collectAsList();
        long tokens = out.stream().mapToLong(r -> r.getInt(r.fieldIndex("new_tokens"))).sum();
        PpsdMetrics m = gen.metrics();
        assertEquals(PROMPTS.length, m.rows().value());
        assertEquals(0, m.errors().value());
        assertEquals(tokens, m.newTokens().value());
        assertTrue(tokens > 0);
        assertEquals(0, m.draftsProposed().value());
        assertEquals(0, m.draftsAccepted().value());
        assertEquals("ppsd.rows", m.rows().name().get());
    }

    /** ppsd, and spd with an untrained SPD head written into the test model's folder (what drafts does not matter). */
    @ParameterizedTest
    @ValueSource(strings = {"ppsd", "spd"})
    void speculativeModesWriteTheSameGreedyTextAndReportDraftAcceptance(String mode) throws IOException {
        Path model = TestSpark.model();
        if (mode.equals("spd") && !Files.isDirectory(model.resolve(SpdHead.DIR))) {
            try (LlamaModel m = LlamaModel.load(model); NDManager sub = m.manager().newSubManager()) {
                DrafterPlan.initSpdHead(m, 2, 1, 0, null, sub).save(model.resolve(SpdHead.DIR));
            }
        }
        PpsdGenerator gen = generator().setParam("mode", mode).setParam("speculation", "always");
        List<Row> out = TestSpark.sorted(gen.transform(prompts(2)).collectAsList(), "id");
        List<GenerationResult> want = expected(SamplingParams.greedy(6), 0);
        long withDrafts = 0;
        for (int i = 0; i < out.size(); i++) {
            Row r = out.get(i);
            assertNull(r.getAs("error"), r.toString());
            assertEquals(want.get(i).text(), r.getAs("generated_text"), "lossless: " + mode + " greedy == ar greedy");
            Double acceptance = r.getAs("acceptance");
            if (acceptance != null) {
                withDrafts++;
                assertTrue(acceptance >= 0 && acceptance <= 1, r.toString());
            }
        }
        assertTrue(withDrafts > 0, "some rows had drafts");
        assertTrue(gen.metrics().draftsProposed().value() > 0);
        assertTrue(gen.metrics().draftsAccepted().value() <= gen.metrics().draftsProposed().value());
    }

    @Test
    void perRowColumnsOverrideTheJobSettings() {
        StructType schema = new StructType().add("id", "string").add("prompt", "string")
                .add("max_new_tokens", "bigint").add("temperature", "double").add("seed", "bigint")
                .add("stop", "array<string>");
        List<Row> rows = List.of(
                RowFactory.create("a", "In the beginning", 2L, null, null, null),
                RowFactory.create("b", "And God said", null, 0.8, 5L, null),
                RowFactory.create("c", "The quick brown fox", 0L, null, null, List.of("x")));
        List<Row> out = TestSpark.sorted(generator().transform(TestSpark.table(schema, rows, 2)).collectAsList(), "id");

        List<GenerationResult> want = TestSpark.direct(List.of(
                new GenerationRequest("a", "In the beginning", SamplingParams.greedy(2)),
                new GenerationRequest("b", "And God said", SamplingParams.greedy(6).withValue(Settings.TEMPERATURE, 0.8f).withValue(Settings.SEED, 5L)),
                new GenerationRequest("c", "The quick brown fox",
                        SamplingParams.greedy(0).withValue(Settings.STOP, List.of("x")))));
        for (int i = 0; i < 3; i++) {
            Row r = out.get(i);
            assertNull(r.get(r.fieldIndex("error")), r.toString());
            assertEquals(want.get(i).text(), r.getString(r.fieldIndex("generated_text")));
            assertEquals(want.get(i).newTokens(), r.getInt(r.fieldIndex("new_tokens")));
        }
        assertEquals(2, out.get(0).getInt(out.get(0).fieldIndex("new_tokens")));
        assertEquals(0, out.get(2).getInt(out.get(2).fieldIndex("new_tokens")));
    }

    @Test
    void aTableWithoutIdColumnSeedsEachRowFromItsPrompt() {
        List<Row> rows = List.of(RowFactory.create("In the beginning"), RowFactory.create("And God said"));
        Dataset<Row> in = TestSpark.table(new StructType().add("prompt", "string"), rows, 1);
        PpsdGenerator gen = generator().setParam("temperature", 1.0).setParam("seed", 3);
        List<Row> out = TestSpark.sorted(gen.transform(in).collectAsList(), "prompt");
        List<GenerationResult> want = TestSpark.direct(List.of(
                new GenerationRequest("x", "And God said",
                        SamplingParams.greedy(6).withValue(Settings.TEMPERATURE, 1f).withValue(Settings.SEED, RowSeeds.forRow(3, "And God said"))),
                new GenerationRequest("y", "In the beginning",
                        SamplingParams.greedy(6).withValue(Settings.TEMPERATURE, 1f).withValue(Settings.SEED, RowSeeds.forRow(3, "In the beginning")))));
        assertEquals(want.get(0).text(), out.get(0).getString(1));
        assertEquals(want.get(1).text(), out.get(1).getString(1));
    }

    /** Half the tiny model's vocabulary: some of six samples stop at one of them. */
    private static final List<Integer> STOP_IDS = java.util.stream.IntStream.range(0, 130).boxed().toList();

    @Test
    void nSamplesComeBackAsRowsWithTheirIndexLogprobsAndStopReason() {
        List<Row> rows = List.of(RowFactory.create(1, "In the beginning"), RowFactory.create(2, "And God said"));
        Dataset<Row> in = TestSpark.table(new StructType().add("id", "int").add("prompt", "string"), rows, 2);
        PpsdGenerator gen = generator().setParam("n", 3).setParam("temperature", 0.9).setParam("seed", 4)
                .setParam("logprobs", 2)
                .setParam("stop_token_ids", STOP_IDS.stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(",")));
        List<Row> out = new ArrayList<>(gen.transform(in).collectAsList());
        out.sort(java.util.Comparator.comparing((Row r) -> r.getInt(0)).thenComparing(r -> r.getInt(r.fieldIndex("sample_index"))));
        assertEquals(6, out.size(), "n rows per input row");

        SamplingParams p = SamplingParams.greedy(6).withValue(Settings.N, 3).withValue(Settings.TEMPERATURE, 0.9f)
                .withValue(Settings.LOGPROBS, 2).withValue(Settings.STOP_TOKEN_IDS, STOP_IDS);
        List<GenerationResult> want = TestSpark.direct(List.of(
                new GenerationRequest("1", "In the beginning", p.withValue(Settings.SEED, RowSeeds.forRow(4, "1"))),
                new GenerationRequest("2", "And God said", p.withValue(Settings.SEED, RowSeeds.forRow(4, "2")))));
        assertEquals(6, want.size());
        for (int i = 0; i < 6; i++) {
            Row r = out.get(i);
            GenerationResult w = want.get(i);
            assertNull(r.get(r.fieldIndex("error")), r.toString());
            assertEquals(w.sampleIndex(), r.getInt(r.fieldIndex("sample_index")));
            assertEquals(w.text(), r.getString(r.fieldIndex("generated_text")), "row " + r);
            assertEquals(w.finishReason().wire(), r.getString(r.fieldIndex("finish_reason")));
            assertEquals(w.stopReason() == null ? null : String.valueOf(w.stopReason()),
                    r.get(r.fieldIndex("stop_reason")));
            List<Row> lp = r.getList(r.fieldIndex("token_logprobs"));
            assertEquals(w.logprobs().size(), lp.size());
            for (int t = 0; t < lp.size(); t++) {
                assertEquals(w.logprobs().get(t).token(), lp.get(t).getInt(0));
                assertEquals(w.logprobs().get(t).logprob(), lp.get(t).getDouble(2), 1e-6);
                assertEquals(2, lp.get(t).getList(3).size());
            }
        }
        assertTrue(out.stream().anyMatch(r -> "stop".equals(r.get(r.fieldIndex("finish_reason")))
                && STOP_IDS.contains(Integer.valueOf(r.getString(r.fieldIndex("stop_reason"))))),
                "some sample stopped at a stop token, named in stop_reason");
        assertTrue(out.stream().map(r -> r.getString(r.fieldIndex("generated_text"))).distinct().count() > 2,
                "the samples differ");
    }
}
