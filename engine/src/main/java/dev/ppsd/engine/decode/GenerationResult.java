package dev.ppsd.engine.decode;

import java.util.List;

/**
 * The outcome of one request (of one of its {@code n} samples: {@code sampleIndex}): the text (cut before a stop
 * string), the generated token ids, the prompt ids as fed to the model, why it stopped (and, for {@code stop}, the
 * stop string or token id), timing ({@code wallMs} from the sequence's start to its end, {@code ttftMs} to its
 * first generated token, NaN without one) and speculation metrics, and the log-probabilities asked for (else null). A
 * request that could not run (bad prompt or settings) has a non-null {@code error} and empty outputs; the other
 * requests still run. {@code incomplete} is null without a guided constraint, else whether the text fails to
 * satisfy it (the budget or a stop string ended it first; {@code finish_reason} is then {@code length} or
 * {@code stop}).
 */
public record GenerationResult(
        String id,
        int sampleIndex,
        String text,
        int[] tokenIds,
        int[] promptTokenIds,
        FinishReason finishReason,
        Object stopReason,
        double wallMs,
        double ttftMs,
        String mode,
        SpecMetrics spec,
        List<TokenLogprob> logprobs,
        List<TokenLogprob> promptLogprobs,
        String error,
        Boolean incomplete) {

    /** The result of a request that failed before decoding, with the message a user sees. */
    public static GenerationResult failed(String id, String mode, String error) {
        return new GenerationResult(id, 0, null, new int[0], new int[0], null, null, 0, Double.NaN, mode,
                SpecMetrics.NONE, null, null, error, null);
    }

    public boolean ok() {
        return error == null;
    }

    public int promptTokens() {
        return promptTokenIds.length;
    }

    public int newTokens() {
        return tokenIds.length;
    }

    /**
     * Time per output token after the first (TPOT): {@code (wallMs - ttftMs) / (newTokens - 1)}, the decoding
     * steps alone, as a plain C forward such as llama2.c times itself; NaN with fewer than two tokens.
     */
    public double tpotMs() {
        return tokenIds.length < 2 ? Double.NaN : (wallMs - ttftMs) / (tokenIds.length - 1);
    }

    /** Generated tokens per second of this sequence's wall time (prefill included). */
    public double tokensPerSecond() {
        return wallMs <= 0 ? 0 : tokenIds.length * 1000.0 / wallMs;
    }
}
