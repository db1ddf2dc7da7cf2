package dev.ppsd.engine.guided;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.TinyModels;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Guided decoding with a SentencePiece-style vocabulary (Llama 2 layout: {@code ▁} for a blank, {@code <0xNN>}
 * byte-fallback tokens, a decoder that drops the text's first blank) on a random model: the texts the tokenizer
 * decodes satisfy their constraints, whether a choice is reached through {@code ▁yes} (its blank dropped) or
 * through byte-fallback tokens that write {@code é} one byte at a time. A WordPiece vocabulary is refused per row,
 * with the reason.
 */
class SentencePieceGuidedTest {
    @TempDir
    static Path tmp;

    /** A Llama-2-style tokenizer.json: specials, the 256 byte tokens, ▁, single characters and a few merges. */
    static int writeTokenizer(Path dir) throws IOException {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (String s : List.of("<unk>", "<s>", "</s>")) {
            vocab.put(s, vocab.size());
        }
        for (int b = 0; b < 256; b++) {
            vocab.put(String.format("<0x%02X>", b), vocab.size());
        }
        vocab.put("▁", vocab.size());
        for (char c : "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:".toCharArray()) {
            vocab.put(String.valueOf(c), vocab.size());
        }
        List<String> merges = List.of("▁ y", "▁y e", "▁ye s", "e s", "▁ n", "▁n o", "n o", "y e", "ye s", "▁ w",
                "▁w a", "▁wa y");
        for (String m : merges) {
            vocab.putIfAbsent(m.replace(" ", ""), vocab.size());
        }
        JsonObject root = JsonParser.parseString("""
                {"version": "1.0", "truncation": null, "padding": null,
                 "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                   {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
                 "pre_tokenizer": null,
                 "post_processor": {"type": "TemplateProcessing",
                   "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                   "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                            {"Sequence": {"id": "B", "type_id": 1}}],
                   "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
                 "decoder": {"type": "Sequence", "decoders": [
                   {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
                   {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}}""")
                .getAsJsonObject();
        JsonArray added = new JsonArray();
        for (int i = 0; i < 3; i++) {
            JsonObject t = new JsonObject();
            t.addProperty("id", i);
            t.addProperty("content", List.of("<unk>", "<s>", "</s>").get(i));
            t.addProperty("single_word", false);
            t.addProperty("lstrip", false);
            t.addProperty("rstrip", false);
            t.addProperty("normalized", false);
            t.addProperty("special", true);
            added.add(t);
        }
        root.add("added_tokens", added);
        JsonObject model = new JsonObject();
        model.addProperty("type", "BPE");
        model.add("dropout", null);
        model.addProperty("unk_token", "<unk>");
        model.add("continuing_subword_prefix", null);
        model.add("end_of_word_suffix", null);
        model.addProperty("fuse_unk", true);
        model.addProperty("byte_fallback", true);
        JsonObject v = new JsonObject();
        vocab.forEach(v::addProperty);
        model.add("vocab", v);
        JsonArray m = new JsonArray();
        merges.forEach(m::add);
        model.add("merges", m);
        root.add("model", model);
        Files.writeString(dir.resolve("tokenizer.json"), root.toString());
        return vocab.size();
    }

    @Test
    void decodedTextsSatisfyTheirConstraints() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("sp"));
        int vocab = 400;
        LlamaConfig c = new LlamaConfig(64, 128, 2, 4, 2, 16, 1e-5f, 10000f, vocab, 256, false, 1, List.of(2));
        TinyModels.write(dir, c, 5);
        assertTrue(writeTokenizer(dir) <= vocab);
        TokenTable t = TokenTable.load(dir.resolve("tokenizer.json"), vocab);
        assertTrue(t.stripsLeadingSpace(), "the Strip decoder drops the first blank");
        List<String> choices = List.of("yes", " no way", "é", "ab");
        List<String> accents = List.of("é!", "über", "ç");
        String re = "[a-z]{2,5} [0-9]{1,2}";
        List<GenerationRequest> reqs = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            SamplingParams p = SamplingParams.greedy(16).withValue(Settings.TEMPERATURE, 1.0).withValue(Settings.SEED,
                    (long) i);
            p = i % 3 == 0 ? p.withValue(Settings.GUIDED_CHOICE, choices) : i % 3 == 1
                    ? p.withValue(Settings.GUIDED_REGEX, re) : p.withValue(Settings.GUIDED_CHOICE, accents);
            reqs.add(new GenerationRequest("r" + i, "The answer", p));
        }
        int viaBlank = 0;
        int viaBytes = 0;
        try (GenerationEngine e = GenerationEngine.open(EngineOptions.of(dir).with(Settings.BATCH_SIZE, 8))) {
            List<GenerationResult> out = e.generate(reqs);
            for (int i = 0; i < out.size(); i++) {
                GenerationResult r = out.get(i);
                assertTrue(r.ok(), r.error());
                if (Boolean.TRUE.equals(r.incomplete())) {
                    continue;
                }
                String why = "'" + r.text() + "' from " + java.util.Arrays.toString(r.tokenIds());
                if (i % 3 == 1) {
                    assertTrue(Pattern.matches(re, r.text()), why);
                } else {
                    assertTrue((i % 3 == 0 ? choices : accents).contains(r.text()), why);
                }
                byte[] first = t.bytes(r.tokenIds()[0]);
                viaBlank += first != null && first.length > 1 && first[0] == ' ' ? 1 : 0;
                for (int id : r.tokenIds()) {
                    viaBytes += id >= 3 && id < 259 && (id - 3) >= 0x80 ? 1 : 0;
                }
            }
            long complete = out.stream().filter(r -> Boolean.FALSE.equals(r.incomplete())).count();
            System.out.printf("[SentencePieceGuidedTest] %d / %d complete; %d texts begin with a ▁-token whose blank"
                    + " the decoder drops; %d byte-fallback tokens of multi-byte characters%n", complete, out.size(),
                    viaBlank, viaBytes);
            assertTrue(complete >= out.size() / 2, "complete: " + complete);
            assertTrue(viaBlank > 0 && viaBytes > 0, "both paths taken");
        }
    }

    @Test
    void aWordPieceVocabularyIsRefusedPerRow() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("wp"));
        LlamaConfig c = TinyModels.config(2, 300);
        TinyModels.write(dir, c, 5);
        JsonObject tok = JsonParser.parseString(Files.readString(dir.resolve("tokenizer.json"))).getAsJsonObject();
        JsonObject wp = new JsonObject();
        wp.addProperty("type", "WordPiece");
        wp.addProperty("prefix", "##");
        wp.addProperty("cleanup", true);
        tok.add("decoder", wp);
        Files.writeString(dir.resolve("tokenizer.json"), tok.toString());
        try (GenerationEngine e = GenerationEngine.open(EngineOptions.of(dir))) {
            List<GenerationResult> out = e.generate(List.of(
                    new GenerationRequest("guided", "x", SamplingParams.greedy(4).withValue(Settings.GUIDED_REGEX, "a+")),
                    new GenerationRequest("free", "x", SamplingParams.greedy(4))));
            assertEquals("guided_regex: guided decoding supports byte-level BPE tokenizers (GPT-2, Llama 3, Qwen) and"
                    + " SentencePiece-style ones (▁ and <0xNN> tokens); this tokenizer.json has decoder WordPiece and"
                    + " model BPE", out.get(0).error());
            assertNull(out.get(1).error());
            assertNull(out.get(1).incomplete());
        }
    }
}
