package dev.ppsd.udf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

import java.util.List;

/**
 * Guided decoding through the Spark face: per-row {@code guided_choice} (an array column), {@code guided_regex}
 * and {@code guided_json} (text columns) constrain their own rows; the {@code incomplete} result column is null
 * for a row without a constraint, false for a text that satisfies it and true for one the budget cut; a bad
 * constraint fails only its row, with the reason; the SQL function takes the same settings as options.
 */
class GuidedColumnsTest {
    static final String SCHEMA = "{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"}},"
            + "\"required\":[\"ok\"]}";

    @Test
    void perRowConstraintsAndTheIncompleteColumn() {
        SparkSession spark = TestSpark.spark();
        StructType schema = new StructType().add("id", "int").add("prompt", "string")
                .add("guided_choice", DataTypes.createArrayType(DataTypes.StringType)).add("guided_regex", "string")
                .add("guided_json", "string").add("max_new_tokens", "int");
        List<Row> rows = List.of(
                RowFactory.create(1, "In the beginning", List.of("yes", "no", "é 😀").toArray(), null, null, 16),
                RowFactory.create(2, "In the beginning", null, "[0-9]{2}-[a-z]{2}", null, 16),
                RowFactory.create(3, "In the beginning", null, null, SCHEMA, 24),
                RowFactory.create(4, "In the beginning", null, "[a-z]{30}", null, 4),
                RowFactory.create(5, "In the beginning", null, null, null, 4),
                RowFactory.create(6, "In the beginning", null, "(ab", null, 4),
                RowFactory.create(7, "In the beginning", null, null, "{\"type\":\"integer\",\"minimum\":1}", 4),
                RowFactory.create(8, "In the beginning", List.of("a").toArray(), "a", null, 4),
                RowFactory.create(9, "In the beginning", new String[0], null, null, 4));
        List<Row> out = TestSpark.sorted(new PpsdGenerator().setParam("model", TestSpark.model().toString())
                .transform(spark.createDataFrame(rows, schema)).collectAsList(), "id");
        Row choice = out.get(0);
        assertNull(choice.getAs("error"));
        assertTrue(List.of("yes", "no", "é 😀").contains(choice.<String>getAs("generated_text")), choice.toString());
        assertEquals(Boolean.FALSE, choice.getAs("incomplete"));
        Row regex = out.get(1);
        assertTrue(regex.<String>getAs("generated_text").matches("[0-9]{2}-[a-z]{2}"), regex.toString());
        assertEquals(Boolean.FALSE, regex.getAs("incomplete"));
        Row json = out.get(2);
        if (Boolean.FALSE.equals(json.getAs("incomplete"))) {
            assertTrue(JsonParser.parseString(json.<String>getAs("generated_text")).getAsJsonObject().get("ok")
                    .getAsJsonPrimitive().isBoolean(), json.toString());
        }
        Row cut = out.get(3);
        assertEquals("length", cut.getAs("finish_reason"));
        assertEquals(Boolean.TRUE, cut.getAs("incomplete"), cut.toString());
        Row free = out.get(4);
        assertNull(free.getAs("error"));
        assertTrue(free.isNullAt(free.fieldIndex("incomplete")), "no constraint: incomplete is null");
        assertTrue(out.get(5).<String>getAs("error").startsWith("guided_regex: unbalanced parenthesis '('"),
                out.get(5).toString());
        assertTrue(out.get(5).isNullAt(out.get(5).fieldIndex("incomplete")));
        assertEquals("guided_json: unsupported keyword 'minimum' at /", out.get(6).getAs("error"));
        assertEquals("at most one of guided_choice, guided_regex and guided_json may be set but this request has"
                + " guided_choice and guided_regex", out.get(7).getAs("error"));
        assertEquals("guided_choice must be at least one string, none empty but was []", out.get(8).getAs("error"),
                "an empty list of choices is an error, not no constraint");
    }

    @Test
    void theSqlFunctionTakesTheSameOptions() {
        SparkSession spark = TestSpark.spark();
        spark.conf().set("spark.ppsd.model", TestSpark.model().toString());
        try {
            PpsdFunctions.register(spark);
        } finally {
            spark.conf().unset("spark.ppsd.model");
        }
        Row r = spark.sql("SELECT ppsd_generate('In the beginning', map('guided_choice', '[\"left\", \"right\"]',"
                + " 'max_new_tokens', '8')) AS g").collectAsList().get(0).getStruct(0);
        assertTrue(List.of("left", "right").contains(r.<String>getAs("generated_text")), r.toString());
        assertFalse(r.<Boolean>getAs("incomplete"));
        Row bad = spark.sql("SELECT ppsd_generate('In the beginning', map('guided_json', '{\"type\": \"date\"}')) AS g")
                .collectAsList().get(0).getStruct(0);
        assertEquals("guided_json: unsupported type \"date\" at /", bad.getAs("error"));
    }
}
