package dev.ppsd.engine;

import java.nio.file.Path;

/**
 * How a {@link GenerationEngine} is built: the model folder, the decoding mode and the batch size
 * (sequences decoded together). All defaults live in {@link #defaults(Path)}.
 */
public record EngineOptions(Path modelDir, String mode, int batchSize) {
    public static final String DEFAULT_MODE = "ar";
    public static final int DEFAULT_BATCH_SIZE = 8;

    public EngineOptions {
        if (modelDir == null) {
            throw new IllegalArgumentException("model folder must be set (--model DIR)");
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be >= 1 but was " + batchSize);
        }
        if (!mode.equals("ar")) {
            throw new IllegalArgumentException("mode must be one of [ar] but was " + mode);
        }
    }

    public static EngineOptions defaults(Path modelDir) {
        return new EngineOptions(modelDir, DEFAULT_MODE, DEFAULT_BATCH_SIZE);
    }

    public EngineOptions withMode(String m) {
        return new EngineOptions(modelDir, m, batchSize);
    }

    public EngineOptions withBatchSize(int b) {
        return new EngineOptions(modelDir, mode, b);
    }
}
