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

    /** A 4-layer GQA model config of the given vocab size (bos 0, eos 1). */
    public static LlamaConfig config(int layers, int vocab) {
        return new LlamaConfig(64, 128, layers, 4, 2, 16, 1e-5f, 10000f, vocab, 512, false, 0, List.of(1));
    }

    /** Writes a random model with {@code c} and the byte-level tokenizer (vocab >= 259) into {@code dir}. */
    public static Path write(Path dir, LlamaConfig c, long seed) throws IOException {
        DjlRuntime.init();
        ByteLevelBpe tok = ByteLevelBpe.bytesOnly(List.of("<s>", "</s>", "<pad>"));
        if (tok.vocabSize() > c.vocabSize()) {
            throw new IllegalArgumentException("vocab_size " + c.vocabSize() + " is smaller than the tokenizer's "
                    + tok.vocabSize());
        }
        c.save(dir);
        tok.writeTokenizerJson(dir.resolve("tokenizer.json"));
        try (NDManager m = NDManager.newBaseManager()) {
            LlamaWeights.random(c, m, seed).save(dir, c.tieWordEmbeddings(), "F32");
        }
        return dir;
    }
}
