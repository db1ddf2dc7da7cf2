package dev.ppsd.udf;

import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.settings.SamplingParams;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Nothing lost: every bad row gets its message and null outputs, every good row its text. */
class BadInputTest {
    static final String LONG_PROMPT = "Let there be light. ".repeat(150);
    static final StructType SCHEMA = new StructType().add("id", "int").add("prompt", "string")
            .add("max_new_tokens", "int").add("temperature", "double").add("top_k", "int").add("top_p", "double");

    static int longPromptTokens() {
        return TestSpark.oracle().tokenizer().encode(LONG_PROMPT).length;
    }

    /** id -> expected error (null: the row must be generated). */
    static Map<Integer, String> expectedErrors() {
        Map<Integer, String> m = new LinkedHashMap<>();
        m.put(1, null);
        m.put(2, "prompt is null");
        m.put(3, "prompt is empty");
        m.put(4, "max_new_tokens must be >= 0 but was -3");
        m.put(5, "temperature must be >= 0 but was -1.0");
        m.put(6, "top_p must be in (0, 1] but was 1.5");
        m.put(7, "top_p must be in (0, 1] but was 0.0");
        m.put(8, "top_k must be >= 0 (0 = off) but was -1");
        m.put(9, "prompt has " + longPromptTokens() + " tokens but the model's context is 512"
                + " (max_position_embeddings); set prompt_too_long=truncate to keep its end");
        m.put(10, null);
        return m;
    }

    static Dataset<Row> badTable(int partitions) {
        List<Row> rows = List.of(
                RowFactory.create(1, "In the beginning", null, null, null, null),
                RowFactory.create(2, null, null, null, null, null),
                RowFactory.create(3, "", null, null, null, null),
                RowFactory.create(4, "And God said", -3, null, null, null),
                RowFactory.create(5, "And God said", null, -1.0, null, null),
                RowFactory.create(6, "And God said", null, null, null, 1.5),
                RowFactory.create(7, "And God said", null, null, null, 0.0),
                RowFactory.create(8, "And God said", null, null, -1, null),
                RowFactory.create(9, LONG_PROMPT, null, null, null, null),
                RowFactory.create(10, "The quick brown fox", 3, 0.5, 10, 0.9));
        return TestSpark.table(SCHEMA, rows, partitions);
    }

    @Test
    void everyBadRowHasItsErrorAndEveryGoodRowItsText() {
        assertTrue(longPromptTokens() > 512, "the long prompt must not fit the tiny model's context");
        PpsdGenerator gen = PpsdGeneratorTest.generator();
        List<Row> out = TestSpark.sorted(gen.transform(badTable(3)).collectAsList(), "id");
        Map<Integer, String> want = expectedErrors();
        assertEquals(want.size(), out.size());
        for (Row r : out) {
            String error = want.get(r.getInt(0));
            assertEquals(error, r.getAs("error"), "row " + r);
            if (error == null) {
                assertNotNull(r.getAs("generated_text"), "row " + r);
                assertNotNull(r.getAs("finish_reason"));
            } else {
                for (String col : List.of("generated_text", "finish_reason", "prompt_tokens", "new_tokens",
                        "acceptance", "tokens_per_s")) {
                    assertNull(r.getAs(col), col + " of bad row " + r);
                }
            }
        }
        Row ten = out.get(9);
        String direct = TestSpark.direct(List.of(new GenerationRequest("10", "The quick brown fox",
                SamplingParams.greedy(3).withValue(Settings.TEMPERATURE, 0.5f).withValue(Settings.TOP_K, 10).withValue(Settings.TOP_P, 0.9f).withValue(Settings.SEED, RowSeeds.forRow(0, "10"))))).get(0).text();
        assertEquals(direct, ten.getAs("generated_text"));
        assertEquals(8, gen.metrics().errors().value());
        assertEquals(10, gen.metrics().rows().value());
    }

    @Test
    void truncateKeepsTheEndOfATooLongPromptSoTheBudgetFits() {
        List<Row> out = PpsdGeneratorTest.generator().setParam("prompt_too_long", "truncate")
                .transform(badTable(1).filter("id = 9")).collectAsList();
        Row r = out.get(0);
        assertNull(r.getAs("error"));
        int promptTokens = r.getAs("prompt_tokens");
        assertTrue(promptTokens <= 512 - 6 && promptTokens > 512 - 6 - 8, "prompt_tokens " + promptTokens);
        assertEquals(6, (int) r.getAs("new_tokens"));
    }

    @Test
    void failOnErrorFailsTheJobNamingTheFirstBadRowId() {
        PpsdGenerator gen = PpsdGeneratorTest.generator().setParam("fail_on_error", true);
        Exception e = assertThrows(Exception.class, () -> gen.transform(badTable(1)).collectAsList());
        assertTrue(e.getMessage().contains("row id=2: prompt is null"), e.getMessage());
    }
}
