package dev.ppsd.engine.decode;

/**
 * The outcome of one request: the text (cut before a stop string), the generated token ids, the prompt
 * ids as fed to the model, why it stopped, timing and speculation metrics. A request that could not run
 * (bad prompt or settings) has a non-null {@code error} and empty outputs; the other requests still run.
 * {@code incomplete} is null without a guided constraint, else whether the text fails to satisfy it (the budget or a
 * stop string ended it first; {@code finish_reason} is then {@code length} or {@code stop}).
 */
public record GenerationResult(
        String id,
        String text,
        int[] tokenIds,
        int[] promptTokenIds,
        FinishReason finishReason,
        double wallMs,
        String mode,
        SpecMetrics spec,
        String error,
        Boolean incomplete) {

    /** A result without a guided constraint ({@code incomplete} null). */
    public GenerationResult(String id, String text, int[] tokenIds, int[] promptTokenIds, FinishReason finishReason,
            double wallMs, String mode, SpecMetrics spec, String error) {
        this(id, text, tokenIds, promptTokenIds, finishReason, wallMs, mode, spec, error, null);
    }

    /** The result of a request that failed before decoding, with the message a user sees. */
    public static GenerationResult failed(String id, String mode, String error) {
        return new GenerationResult(id, null, new int[0], new int[0], null, 0, mode, SpecMetrics.NONE, error);
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

    /** Generated tokens per second of this sequence's wall time (prefill included). */
    public double tokensPerSecond() {
        return wallMs <= 0 ? 0 : tokenIds.length * 1000.0 / wallMs;
    }
}
