package dev.ppsd.engine.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.ppsd.engine.checkpoint.ModelLoadException;
import dev.ppsd.engine.runtime.DjlRuntime;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A model folder's {@code tokenizer.json}, loaded through DJL's {@link HuggingFaceTokenizer}. Encoding adds
 * the special tokens the tokenizer's post-processor defines (e.g. BOS) and never truncates.
 */
public final class TextTokenizer implements AutoCloseable {
    private final HuggingFaceTokenizer tokenizer;

    private TextTokenizer(HuggingFaceTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** Loads {@code dir/tokenizer.json}; a missing or unreadable file is reported by name. */
    public static TextTokenizer load(Path dir) {
        DjlRuntime.init();
        Path file = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(file)) {
            throw new ModelLoadException(file, "missing file (a model folder needs tokenizer.json)");
        }
        try {
            return new TextTokenizer(HuggingFaceTokenizer.newInstance(file,
                    Map.of("addSpecialTokens", "true", "truncation", "false", "padding", "false")));
        } catch (IOException | RuntimeException e) {
            throw new ModelLoadException(file, "cannot load tokenizer: " + e.getMessage(), e);
        }
    }

    /** Token ids of {@code text} as fed to the model (including any BOS the tokenizer adds). */
    public int[] encode(String text) {
        return encode(text, true);
    }

    /**
     * Token ids of {@code text}; with {@code addSpecialTokens} false the post-processor adds nothing (no BOS), as
     * for a rendered chat template, which writes its own (see {@code ChatTemplate#encode}).
     */
    public int[] encode(String text, boolean addSpecialTokens) {
        long[] ids = tokenizer.encode(text, addSpecialTokens, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = (int) ids[i];
        }
        return out;
    }

    /** Text of {@code ids[0, n)}, special tokens skipped. */
    public String decode(int[] ids, int n) {
        long[] l = new long[n];
        for (int i = 0; i < n; i++) {
            l[i] = ids[i];
        }
        return tokenizer.decode(l, true);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
