package dev.ppsd.engine.chat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import com.google.gson.JsonObject;
import dev.ppsd.engine.tokenizer.TextTokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * DJL's Hugging Face tokenizer, through {@link TextTokenizer}, on the real Llama 3.1 and Qwen3 {@code tokenizer.json}
 * gives the ids that {@code @lenml/tokenizers} (transformers.js) gives, with and without special tokens.
 */
class HfTokenizerParityTest {
    static final List<String> TEXTS = List.of(
            "Hello, world!",
            " leading space",
            "trailing space ",
            "   three leading, two trailing  ",
            "digits 1234567890, 3.14159 and 1,000,000",
            "def square(x):\n    return x ** 2  # the square\n",
            "emoji 👋🏽 🙂 👨‍👩‍👧 🇫🇷",
            "你好，世界。日本語のテキスト。한국어 문장",
            "combining e\u0301 n\u0303 a\u0308 vs é ñ ä",
            "\n\n",
            "",
            "\ttabs\tand\r\nCRLF",
            "<|begin_of_text|>special text<|eot_id|><|im_start|>user\n",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

    static final Map<String, TextTokenizer> TOKENIZERS = new HashMap<>();
    static final Map<String, int[]> EXPECTED = new HashMap<>();

    @BeforeAll
    static void oracle() {
        NodeOracle oracle = NodeOracle.get();
        List<JsonObject> requests = new ArrayList<>();
        List<String> keys = new ArrayList<>();
        for (String family : NodeOracle.FAMILIES) {
            TOKENIZERS.put(family, TextTokenizer.load(oracle.tokenizerDir(family)));
            for (String text : TEXTS) {
                for (boolean specials : new boolean[] {true, false}) {
                    requests.add(NodeOracle.encodeRequest(family, text, specials));
                    keys.add(key(family, text, specials));
                }
            }
        }
        List<JsonObject> results = oracle.call(requests);
        for (int i = 0; i < keys.size(); i++) {
            EXPECTED.put(keys.get(i), NodeOracle.ids(results.get(i)));
        }
    }

    @AfterAll
    static void close() {
        TOKENIZERS.values().forEach(TextTokenizer::close);
    }

    private static String key(String family, String text, boolean specials) {
        return family + "|" + specials + "|" + text;
    }

    static Stream<Arguments> cases() {
        return NodeOracle.FAMILIES.stream().flatMap(f -> TEXTS.stream().flatMap(t -> Stream.of(
                Arguments.of(f, t, true), Arguments.of(f, t, false))));
    }

    @ParameterizedTest(name = "{0} specials={2}: \"{1}\"")
    @MethodSource("cases")
    void sameIdsAsTransformersJs(String family, String text, boolean addSpecialTokens) {
        TextTokenizer tok = TOKENIZERS.get(family);
        int[] got = addSpecialTokens ? tok.encode(text) : tok.encode(text, false);
        assertArrayEquals(EXPECTED.get(key(family, text, addSpecialTokens)), got,
                family + " ids of \"" + text + "\" (addSpecialTokens=" + addSpecialTokens + ")");
    }
}
