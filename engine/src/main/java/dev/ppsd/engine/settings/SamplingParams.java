package dev.ppsd.engine.settings;

import dev.ppsd.engine.settings.Setting.Scope;

import java.util.Map;

/**
 * How one request is decoded: the values of the {@link Scope#REQUEST} settings of {@link Settings} (token budget,
 * temperature, top-k, top-p, seed, stop strings, ...), read with {@code params.get(Settings.TOP_K)}. Temperature 0
 * is greedy; the seed makes sampled output reproducible.
 */
public final class SamplingParams extends SettingValues<SamplingParams> {
    private static final long serialVersionUID = 1L;
    private static final SamplingParams DEFAULTS = new SamplingParams(Map.of());

    private SamplingParams(Map<String, Object> values) {
        super(values);
    }

    /** Every setting at its default (greedy, {@code max_new_tokens} 64). */
    public static SamplingParams defaults() {
        return DEFAULTS;
    }

    /** Greedy decoding of up to {@code maxNewTokens}. */
    public static SamplingParams greedy(int maxNewTokens) {
        return DEFAULTS.with(Settings.MAX_NEW_TOKENS, maxNewTokens);
    }

    @Override
    protected Scope scope() {
        return Scope.REQUEST;
    }

    @Override
    protected SamplingParams make(Map<String, Object> values) {
        return new SamplingParams(values);
    }

    /** Whether decoding is greedy (temperature 0). */
    public boolean isGreedy() {
        return get(Settings.TEMPERATURE) == 0.0;
    }
}
