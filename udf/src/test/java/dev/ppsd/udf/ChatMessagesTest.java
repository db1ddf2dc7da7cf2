package dev.ppsd.udf;

import dev.ppsd.engine.chat.ChatMessage;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.SamplingParams;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Chats from Spark: a {@code messages} column (array of struct role, content) in the Dataset API, and
 * {@code ppsd_generate(messages)} in SQL, each row's chat rendered by the model's template; a bad chat fails its row.
 */
class ChatMessagesTest {
    private static final StructType SCHEMA = StructType.fromDDL(
            "id INT, prompt STRING, messages ARRAY<STRUCT<role: STRING, content: STRING>>");

    private static Row msg(String role, String content) {
        return RowFactory.create(role, content);
    }

    private static Dataset<Row> table() {
        return TestSpark.table(SCHEMA, List.of(
                RowFactory.create(1, null, List.of(msg("system", "Be brief."), msg("user", "In the beginning"))),
                RowFactory.create(2, "And God said", null),
                RowFactory.create(3, null, List.of()),
                RowFactory.create(4, null, List.of(msg("narrator", "Once"))),
                RowFactory.create(5, null, Arrays.asList(msg("user", null))),
                RowFactory.create(6, null, null)), 2);
    }

    private static GenerationResult direct(GenerationRequest r) {
        return TestSpark.direct(List.of(r)).get(0);
    }

    @Test
    void aMessagesColumnIsRenderedByTheChatTemplateAndABadChatFailsItsRow() {
        List<Row> out = TestSpark.sorted(PpsdGeneratorTest.generator().transform(table()).collectAsList(), "id");
        SamplingParams p = SamplingParams.greedy(6);
        GenerationResult chat = direct(GenerationRequest.chat("1", List.of(ChatMessage.system("Be brief."),
                ChatMessage.user("In the beginning")), p));
        assertNull(out.get(0).getAs("error"));
        assertEquals(chat.text(), out.get(0).getAs("generated_text"));
        assertEquals(chat.promptTokens(), (int) out.get(0).getAs("prompt_tokens"));
        assertEquals(direct(new GenerationRequest("2", "And God said", p)).text(), out.get(1).getAs("generated_text"),
                "a null chat falls back to the prompt");
        assertEquals("messages is empty", out.get(2).getAs("error"));
        assertEquals("unknown role narrator", out.get(3).getAs("error"));
        assertEquals("messages[0].content is null", out.get(4).getAs("error"));
        assertEquals("prompt is null", out.get(5).getAs("error"));
    }

    @Test
    void aMessagesColumnOfAnotherShapeIsRefusedBeforeAnyDataMoves() {
        StructType wrong = StructType.fromDDL("id INT, prompt STRING, messages ARRAY<STRING>");
        String m = assertThrows(IllegalArgumentException.class,
                () -> new PpsdGenerator().transformSchema(wrong)).getMessage();
        assertEquals("Input column messages must be array<struct<role:string,content:string>> but got array<string>",
                m);
        // without a prompt column the chats alone are enough
        new PpsdGenerator().transformSchema(StructType.fromDDL("id INT, messages ARRAY<STRUCT<role: STRING, content:"
                + " STRING>>"));
    }

    @Test
    void theSqlFunctionTakesAChat() {
        TestSpark.spark().conf().set("spark.ppsd.model", TestSpark.model().toString());
        try {
            PpsdFunctions.register(TestSpark.spark());
        } finally {
            TestSpark.spark().conf().unset("spark.ppsd.model");
        }
        List<Row> r = TestSpark.spark().sql("SELECT ppsd_generate(array(named_struct('role', 'user', 'content',"
                + " 'In the beginning')), map('max_new_tokens', '5')) AS g,"
                + " ppsd_generate(array(named_struct('role', 'narrator', 'content', 'x'))).error AS bad").collectAsList();
        Row g = r.get(0).getStruct(0);
        GenerationResult want = direct(GenerationRequest.chat("x", List.of(ChatMessage.user("In the beginning")),
                SamplingParams.greedy(5)));
        assertNull(g.getAs("error"));
        assertEquals(want.text(), g.getAs("generated_text"));
        assertEquals("unknown role narrator", r.get(0).getString(1));
        assertTrue(want.promptTokens() > 5);
    }
}
