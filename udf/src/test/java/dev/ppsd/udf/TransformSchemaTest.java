package dev.ppsd.udf;

import dev.ppsd.engine.settings.Settings;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Schema and settings errors surface on the driver, before any data moves or any engine is built. */
class TransformSchemaTest {
    private static String schemaError(PpsdGenerator gen, StructType schema) {
        return assertThrows(IllegalArgumentException.class, () -> gen.transformSchema(schema)).getMessage();
    }

    @Test
    void aMissingPromptColumnNamesTheAvailableOnes() {
        assertEquals("Input column prompt does not exist. Available: id, text",
                schemaError(new PpsdGenerator(), new StructType().add("id", "int").add("text", "string")));
    }

    @Test
    void aPromptColumnOfTheWrongTypeIsNamed() {
        assertEquals("Input column prompt must be string but got int",
                schemaError(new PpsdGenerator(), new StructType().add("id", "int").add("prompt", "int")));
    }

    @Test
    void aRenamedPromptColumnAndAnExplicitIdColumnAreChecked() {
        StructType schema = new StructType().add("key", "int").add("text", "string");
        assertEquals("Input column id does not exist. Available: key, text",
                schemaError(new PpsdGenerator().setParam("prompt_col", "text").setParam("id_col", "id"), schema));
        StructType out = new PpsdGenerator().setParam("prompt_col", "text").setParam("id_col", "key").transformSchema(schema);
        assertEquals(10, out.fields().length);
    }

    @Test
    void perRowColumnsOfTheWrongTypeAreNamed() {
        StructType base = new StructType().add("prompt", "string");
        assertEquals("Input column temperature must be tinyint, smallint, int, bigint, float, double, decimal or"
                + " string but got boolean", schemaError(new PpsdGenerator(), base.add("temperature", "boolean")));
        assertEquals("Input column max_new_tokens must be tinyint, smallint, int, bigint or string but got double",
                schemaError(new PpsdGenerator(), base.add("max_new_tokens", "double")));
        assertEquals("Input column stop must be array<string> or string but got array<int>",
                schemaError(new PpsdGenerator(), base.add("stop", "array<int>")));
    }

    @Test
    void anOutputColumnThatAlreadyExistsIsRejected() {
        String m = schemaError(new PpsdGenerator(), new StructType().add("prompt", "string").add("error", "string"));
        assertTrue(m.startsWith("Output column error already exists in the input"), m);
        new PpsdGenerator().setParam("error_col", "ppsd_error")
                .transformSchema(new StructType().add("prompt", "string").add("error", "string"));
    }

    @Test
    void theOutputSchemaIsTheInputPlusTheEightResultColumns() {
        StructType in = new StructType().add("id", "bigint").add("prompt", "string");
        StructType out = new PpsdGenerator().transformSchema(in);
        assertEquals(List.of("id", "prompt", "generated_text", "finish_reason", "stop_reason", "prompt_tokens",
                "new_tokens", "acceptance", "tokens_per_s", "error"), List.of(out.fieldNames()));
        assertEquals(DataTypes.IntegerType, out.apply("new_tokens").dataType());
        assertEquals(DataTypes.DoubleType, out.apply("acceptance").dataType());
    }

    @Test
    void samplesAndLogprobsAddTheirColumnsOnlyWhenAskedFor() {
        StructType in = new StructType().add("id", "bigint").add("prompt", "string");
        StructType out = new PpsdGenerator().setParam("n", "2").setParam("logprobs", "3")
                .setParam("token_logprobs_col", "lp").transformSchema(in);
        assertEquals(List.of("id", "prompt", "generated_text", "finish_reason", "stop_reason", "prompt_tokens",
                "new_tokens", "acceptance", "tokens_per_s", "error", "sample_index", "lp"),
                List.of(out.fieldNames()));
        assertEquals("array<struct<token_id:int,token:string,logprob:double,top_logprobs:"
                + "array<struct<token_id:int,token:string,logprob:double>>>>", out.apply("lp").dataType().simpleString());
        StructType prompt = new PpsdGenerator().setParam("prompt_logprobs", "1").transformSchema(in);
        assertEquals("prompt_token_logprobs", prompt.fieldNames()[prompt.fields().length - 1]);
        StructType guided = new PpsdGenerator().setParam("guided_choice", List.of("yes", "no")).transformSchema(in);
        assertEquals("incomplete", guided.fieldNames()[guided.fields().length - 1]);
        assertEquals(DataTypes.BooleanType, guided.apply("incomplete").dataType());
        StructType perRow = new PpsdGenerator().transformSchema(in.add("guided_regex", "string"));
        assertEquals("incomplete", perRow.fieldNames()[perRow.fields().length - 1], "a per-row constraint column");
    }

    @Test
    void settersNameTheBadValueAndTheLegalRange() {
        PpsdGenerator g = new PpsdGenerator();
        assertEquals("max_new_tokens must be >= 0 but was -1",
                assertThrows(IllegalArgumentException.class, () -> g.setParam("max_new_tokens", -1)).getMessage());
        assertEquals("top_p must be in (0, 1] but was 1.5",
                assertThrows(IllegalArgumentException.class, () -> g.setParam("top_p", 1.5)).getMessage());
        assertEquals("mode must be one of [ar, ar-pipe, eesd, ppsd, spd] but was fast",
                assertThrows(IllegalArgumentException.class, () -> g.setParam("mode", "fast")).getMessage());
        assertEquals("prompt_too_long must be one of [error, truncate] but was drop",
                assertThrows(IllegalArgumentException.class, () -> g.setParam("prompt_too_long", "drop")).getMessage());
    }

    @Test
    void transformWithoutAModelFailsBeforeAnyDataMoves() {
        Dataset<Row> in = TestSpark.spark().createDataFrame(List.of(RowFactory.create("x")),
                new StructType().add("prompt", "string"));
        String m = assertThrows(IllegalArgumentException.class, () -> new PpsdGenerator().transform(in)).getMessage();
        assertEquals("model is not set: set the model param or --conf spark.ppsd.model=PATH", m);
    }

    @Test
    void sparkConfsFillInWhatNoSetterSet() {
        TestSpark.spark().conf().set("spark.ppsd.max_new_tokens", "3");
        TestSpark.spark().conf().set("spark.ppsd.stop", "[\"\\n\", \"END\"]");
        try {
            JobSettings s = new PpsdGenerator().settings(false);
            assertEquals(3, s.defaults().get(Settings.MAX_NEW_TOKENS));
            assertEquals(List.of("\n", "END"), s.defaults().get(Settings.STOP));
            assertEquals(9, new PpsdGenerator().setParam("max_new_tokens", 9).settings(false).defaults().get(Settings.MAX_NEW_TOKENS));
            TestSpark.spark().conf().set("spark.ppsd.max_new_tokens", "lots");
            assertEquals("max_new_tokens must be an integer but was 'lots'",
                    assertThrows(IllegalArgumentException.class, () -> new PpsdGenerator().settings(false))
                            .getMessage());
        } finally {
            TestSpark.spark().conf().unset("spark.ppsd.max_new_tokens");
            TestSpark.spark().conf().unset("spark.ppsd.stop");
        }
    }

    @Test
    void itIsASparkMlTransformerWithDocumentedParams() {
        PpsdGenerator g = new PpsdGenerator().setParam("max_new_tokens", 5).setParam("prompt_col", "text");
        String explain = g.explainParams();
        assertTrue(explain.contains("max_new_tokens: token budget (clamped to what the context leaves) (default: 64"),
                explain);
        assertEquals(JobSettings.table().size(), g.params().length);
        PpsdGenerator copy = g.copy(new org.apache.spark.ml.param.ParamMap());
        assertEquals(g.uid(), copy.uid());
        assertEquals("text", copy.settings(false).job().get(JobOptions.PROMPT_COL));
        assertEquals(5, copy.settings(false).defaults().get(Settings.MAX_NEW_TOKENS));
    }
}
