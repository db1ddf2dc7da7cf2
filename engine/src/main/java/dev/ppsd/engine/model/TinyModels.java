package dev.ppsd.engine.model;

import ai.djl.ndarray.NDManager;
import dev.ppsd.engine.runtime.DjlRuntime;
import dev.ppsd.engine.tokenizer.ByteLevelBpe;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Writes small random-weight models in the Hugging Face layout (config.json, model.safetensors, and a byte-level
 * tokenizer.json with one token per UTF-8 byte and no merges), so tests, smoke runs and benchmarks of the
 * machinery work without a trained model.
 */
public final class TinyModels {
    private TinyModels() {
    }

    /**
     * A small chat template in the Hugging Face style: each message as {@code <|role|>content</s>}, the generation
     * prompt {@code <|assistant|>}, and roles other than system, user and assistant refused with
     * {@code raise_exception}.
     */
    public static final String CHAT_TEMPLATE = "{% for m in messages %}{% if m['role'] not in ['system', 'user',"
            + " 'assistant'] %}{{ raise_exception('unknown role ' + m['role']) }}{% endif %}<|{{ m['role'] }}|>"
            + "{{ m['content'] }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";

    /** Writes {@code dir/tokenizer_config.json} with the BOS / EOS of the tiny tokenizer and {@code template}. */
    public static Path writeChatTemplate(Path dir, String template) throws IOException {
        com.google.gson.JsonObject o = new com.google.gson.JsonObject();
        o.addProperty("bos_token", "<s>");
        o.addProperty("eos_token", "</s>");
        o.addProperty("chat_template", template);
        java.nio.file.Files.writeString(dir.resolve("tokenizer_config.json"), o + "\n");
        return dir;
    }

    /** A 4-layer GQA model config of the given vocab size (bos 0, eos 1). */
    public static LlamaConfig config(int layers, int vocab) {
        return new LlamaConfig(64, 128, layers, 4, 2, 16, 1e-5f, 10000f, vocab, 512, false, 0, List.of(1));
    }

    /**
     * Writes the byte-level tokenizer (bytes plus {@code <s> </s> <pad>}) as dir/tokenizer.json; {@code c}'s vocab
     * must hold it.
     */
    static void writeTokenizer(Path dir, LlamaConfig c) throws IOException {
        ByteLevelBpe tok = ByteLevelBpe.bytesOnly(List.of("<s>", "</s>", "<pad>"));
        if (tok.vocabSize() > c.vocabSize()) {
            throw new IllegalArgumentException("vocab_size " + c.vocabSize() + " is smaller than the tokenizer's "
                    + tok.vocabSize());
        }
        tok.writeTokenizerJson(dir.resolve("tokenizer.json"));
    }

    /** Writes a random model with {@code c} and the byte-level tokenizer (vocab >= 259) into {@code dir}. */
    public static Path write(Path dir, LlamaConfig c, long seed) throws IOException {
        DjlRuntime.init();
        c.save(dir);
        writeTokenizer(dir, c);
        try (NDManager m = NDManager.newBaseManager()) {
            LlamaWeights.random(c, m, seed).save(dir, c.tieWordEmbeddings(), "F32");
        }
        return dir;
    }
}
