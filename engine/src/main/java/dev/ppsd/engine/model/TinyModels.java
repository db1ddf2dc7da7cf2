package dev.ppsd.engine.model;

import ai.djl.ndarray.NDManager;
import dev.ppsd.engine.runtime.DjlRuntime;
import dev.ppsd.engine.tokenizer.BpeTrainer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes small random-weight models in the Hugging Face layout (config.json, model.safetensors,
 * tokenizer.json), so tests, smoke runs and benchmarks of the machinery work without a trained model.
 */
public final class TinyModels {
    /** Text the tiny tokenizer is trained on: a little prose and code. */
    private static final String SAMPLE = """
            In the beginning God created the heaven and the earth.
            And the earth was without form, and void; and darkness was upon the face of the deep.
            And God said, Let there be light: and there was light.
            public static int add(int a, int b) { return a + b; }
            for (int i = 0; i < n; i++) { sum += values[i]; }
            The quick brown fox jumps over the lazy dog. 0123456789
            """;

    private TinyModels() {
    }

    /** A 4-layer GQA model config of the given vocab size (bos 0, eos 1). */
    public static LlamaConfig config(int layers, int vocab) {
        return new LlamaConfig(64, 128, layers, 4, 2, 16, 1e-5f, 10000f, vocab, 512, false, 0, List.of(1));
    }

    /** Writes a random model with {@code c} and a byte-level BPE tokenizer that fits its vocab into {@code dir}. */
    public static Path write(Path dir, LlamaConfig c, long seed) throws IOException {
        DjlRuntime.init();
        List<String> lines = new ArrayList<>(SAMPLE.lines().toList());
        BpeTrainer.Result tok = BpeTrainer.train(lines, Math.min(c.vocabSize(), 400), List.of("<s>", "</s>", "<pad>"));
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
