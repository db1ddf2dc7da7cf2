package dev.ppsd.engine.chat;

import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.model.TinyModels;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Requests with chat messages through the engine: the prompt fed to the model is the chat template's rendering,
 * encoded without added special tokens (Hugging Face's {@code apply_chat_template(tokenize=True)}); a chat the model
 * cannot take fails its own request and the other requests run.
 */
class ChatRequestsTest {
    @TempDir
    static Path tmp;
    static GenerationEngine engine;
    static GenerationEngine noTemplate;

    @BeforeAll
    static void models() throws IOException {
        Path chat = TinyModels.writeChatTemplate(TinyModels.write(tmp.resolve("chat"), TinyModels.config(2, 512), 3),
                TinyModels.CHAT_TEMPLATE);
        engine = GenerationEngine.open(EngineOptions.of(chat));
        noTemplate = GenerationEngine.open(EngineOptions.of(TinyModels.write(tmp.resolve("plain"),
                TinyModels.config(2, 512), 3)));
    }

    @AfterAll
    static void close() {
        engine.close();
        noTemplate.close();
    }

    @Test
    void aChatIsFedAsItsTemplateRendersItWithoutAnExtraBos() {
        List<ChatMessage> chat = List.of(ChatMessage.system("Be brief."), ChatMessage.user("In the beginning"));
        GenerationResult r = engine.generate(List.of(GenerationRequest.chat("c", chat, SamplingParams.greedy(4))))
                .get(0);
        assertNull(r.error());
        String rendered = "<|system|>Be brief.</s><|user|>In the beginning</s><|assistant|>";
        assertArrayEquals(engine.tokenizer().encode(rendered, false), r.promptTokenIds());
        // the same text sent as a prompt gets the tokenizer's BOS in front: a chat does not
        int[] asPrompt = engine.generate(List.of(new GenerationRequest("p", rendered, SamplingParams.greedy(4))))
                .get(0).promptTokenIds();
        assertEquals(0, asPrompt[0]);
        assertArrayEquals(r.promptTokenIds(), Arrays.copyOfRange(asPrompt, 1, asPrompt.length));
        assertEquals(4, r.newTokens());
    }

    @Test
    void aChatTheModelCannotTakeFailsOnlyItsOwnRequest() {
        SamplingParams p = SamplingParams.greedy(3);
        List<GenerationResult> out = engine.generate(List.of(
                new GenerationRequest("ok", "In the", p),
                GenerationRequest.chat("empty", List.of(), p),
                GenerationRequest.chat("role", List.of(new ChatMessage("narrator", "Once")), p),
                GenerationRequest.chat("ok2", List.of(ChatMessage.user("And God said")), p)));
        assertNull(out.get(0).error());
        assertEquals("messages is empty", out.get(1).error());
        assertEquals("unknown role narrator", out.get(2).error());
        assertNull(out.get(3).error());
        assertEquals(3, out.get(3).newTokens());
        GenerationResult none = noTemplate.generate(List.of(GenerationRequest.chat("x",
                List.of(ChatMessage.user("hi")), p), new GenerationRequest("y", "hi", p))).get(0);
        assertTrue(none.error().startsWith("the model has no chat template"), none.error());
    }

    @Test
    void greedyChatsAreTheSameInEveryMode() {
        List<ChatMessage> chat = List.of(ChatMessage.user("In the beginning God created"));
        GenerationResult ar = engine.generate(List.of(GenerationRequest.chat("c", chat, SamplingParams.greedy(8))))
                .get(0);
        try (GenerationEngine ppsd = GenerationEngine.open(engine.options().with(Settings.MODE, "ppsd")
                .with(Settings.EXIT_HEAD, "shared").with(Settings.EXIT_LAYER, 1))) {
            GenerationResult p = ppsd.generate(List.of(GenerationRequest.chat("c", chat, SamplingParams.greedy(8))))
                    .get(0);
            assertArrayEquals(ar.tokenIds(), p.tokenIds());
            assertArrayEquals(ar.promptTokenIds(), p.promptTokenIds());
        }
    }
}
