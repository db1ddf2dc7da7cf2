package dev.ppsd.engine.decode;

import java.util.List;

/**
 * How one request is decoded. {@code temperature == 0} means greedy; {@code topK == 0} and
 * {@code topP == 1} disable those filters. The seed makes sampled output reproducible.
 */
public record SamplingParams(int maxNewTokens, float temperature, int topK, float topP, long seed, List<String> stop) {
    public static final int DEFAULT_MAX_NEW_TOKENS = 64;

    public SamplingParams {
        if (maxNewTokens < 0) {
            throw new IllegalArgumentException("max_new_tokens must be >= 0 but was " + maxNewTokens);
        }
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be >= 0 but was " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top_k must be >= 0 (0 = off) but was " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top_p must be in (0, 1] but was " + topP);
        }
        stop = stop == null ? List.of() : List.copyOf(stop);
        for (String s : stop) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must not be empty");
            }
        }
    }

    /** Greedy decoding of up to {@code maxNewTokens}. */
    public static SamplingParams greedy(int maxNewTokens) {
        return new SamplingParams(maxNewTokens, 0f, 0, 1f, 0L, List.of());
    }

    public boolean isGreedy() {
        return temperature == 0f;
    }

    public SamplingParams withSeed(long newSeed) {
        return new SamplingParams(maxNewTokens, temperature, topK, topP, newSeed, stop);
    }

    public SamplingParams withMaxNewTokens(int n) {
        return new SamplingParams(n, temperature, topK, topP, seed, stop);
    }
}
