package dev.ppsd.udf;

import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.SamplingParams;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code ppsd_generate} called from {@code spark.sql}. */
class PpsdFunctionsTest {
    private static PpsdMetrics metrics;

    @BeforeAll
    static void register() {
        SparkSession spark = TestSpark.spark();
        spark.conf().set("spark.ppsd.model", TestSpark.model().toString());
        spark.conf().set("spark.ppsd.max_new_tokens", "5");
        try {
            metrics = PpsdFunctions.register(spark);
        } finally {
            spark.conf().unset("spark.ppsd.model");
            spark.conf().unset("spark.ppsd.max_new_tokens");
        }
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            rows.add(RowFactory.create(i, PpsdGeneratorTest.PROMPTS[i]));
        }
        rows.add(RowFactory.create(4, null));
        TestSpark.table(new StructType().add("id", "int").add("prompt", "string"), rows, 2)
                .createOrReplaceTempView("prompts");
    }

    @Test
    void selectGeneratedTextFromATable() {
        List<Row> out = TestSpark.spark().sql(
                "SELECT id, ppsd_generate(prompt).generated_text AS text FROM prompts WHERE id < 4").collectAsList();
        out = TestSpark.sorted(out, "id");
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            requests.add(new GenerationRequest("x", PpsdGeneratorTest.PROMPTS[i], SamplingParams.greedy(5)));
        }
        List<GenerationResult> want = TestSpark.direct(requests);
        assertEquals(4, out.size());
        for (int i = 0; i < 4; i++) {
            assertEquals(i, out.get(i).getInt(0));
            assertEquals(want.get(i).text(), out.get(i).getString(1));
        }
    }

    @Test
    void anOptionsMapSetsSamplingPerCall() {
        Row r = TestSpark.spark().sql("SELECT ppsd_generate(prompt, map('max_new_tokens', '3', 'temperature', '0.7',"
                + " 'seed', '11')) AS g FROM prompts WHERE id = 1").collectAsList().get(0).getStruct(0);
        GenerationResult want = TestSpark.direct(List.of(new GenerationRequest("x", PpsdGeneratorTest.PROMPTS[1],
                SamplingParams.greedy(3).withValue(Settings.TEMPERATURE, 0.7f).withValue(Settings.SEED, 11)))).get(0);
        assertNull(r.getAs("error"));
        assertEquals(want.text(), r.getAs("generated_text"));
        assertEquals(want.newTokens(), (int) r.getAs("new_tokens"));
        assertEquals(List.of("generated_text", "finish_reason", "stop_reason", "prompt_tokens", "new_tokens",
                "acceptance", "tokens_per_s", "error", "incomplete", "token_logprobs", "prompt_token_logprobs"),
                List.of(r.schema().fieldNames()));
    }

    @Test
    void badRowsAndBadOptionsGetTheirOwnError() {
        List<Row> out = TestSpark.sorted(TestSpark.spark().sql("SELECT id,"
                + " ppsd_generate(prompt, map('temperature', '-1')).error AS neg,"
                + " ppsd_generate(prompt, map('colour', 'red')).error AS unknown,"
                + " ppsd_generate(prompt, map('top_k', 'many')).error AS nan,"
                + " ppsd_generate(prompt).error AS plain FROM prompts WHERE id IN (0, 4)").collectAsList(), "id");
        Row ok = out.get(0);
        assertEquals("temperature must be >= 0 but was -1.0", ok.getAs("neg"));
        assertEquals("unknown option colour (known: id, " + String.join(", ", Settings.names()) + ")",
                ok.getAs("unknown"));
        assertEquals("top_k must be an integer but was 'many'", ok.getAs("nan"));
        assertNull(ok.getAs("plain"));
        assertEquals("prompt is null", out.get(1).getAs("plain"));
    }

    @Test
    void registeringWithoutAModelConfFailsAtOnce() {
        String m = assertThrows(IllegalArgumentException.class, () -> PpsdFunctions.register(TestSpark.spark()))
                .getMessage();
        assertEquals("model is not set: set the model param or --conf spark.ppsd.model=PATH", m);
    }

    @Test
    void theWrongNumberOfArgumentsIsReported() {
        Exception e = assertThrows(Exception.class,
                () -> TestSpark.spark().sql("SELECT ppsd_generate() FROM prompts").collectAsList());
        assertTrue(e.getMessage().contains("ppsd_generate takes (prompt) or (prompt, options_map) but got 0"),
                e.getMessage());
    }

    @Test
    void callsAreCountedInTheFunctionsAccumulators() {
        long before = metrics.rows().value();
        TestSpark.spark().sql("SELECT ppsd_generate(prompt) AS g FROM prompts").collectAsList();
        assertEquals(before + 5, metrics.rows().value());
        assertEquals("ppsd_generate.rows", metrics.rows().name().get());
    }
}
