package dev.ppsd.tools.bench;

import dev.ppsd.engine.decode.GenerationResult;

import java.util.List;

/**
 * The measured outcome of one decoding mode over a prompt set: throughput, acceptance, and, for the
 * pipeline modes, the per-stage cost per token (the drafter's host stage includes the drafter; hand-offs excluded)
 * and the drafter / split plan (null for the other modes).
 */
public record ModeRun(String mode, String label, int stages, double wallMs, long newTokens, long proposed,
        long accepted, double[] stageMsPerToken, double coordinatorMs, String plan, List<GenerationResult> results) {

    public double tokensPerSecond() {
        return newTokens * 1000.0 / wallMs;
    }

    /** Mean time to first token (TTFT) of the sequences that generated one, ms; NaN when none did. */
    public double ttftMs() {
        return meanOf(GenerationResult::ttftMs);
    }

    /**
     * Mean time per output token after the first (TPOT, {@link GenerationResult#tpotMs}) of the sequences with two or
     * more, ms; NaN when none had. At batch 1, {@code 1000 / tpotMs} is the decoding steps' tokens/s without the
     * prefills: what a plain C forward that times its steps after the first reports.
     */
    public double tpotMs() {
        return meanOf(GenerationResult::tpotMs);
    }

    /** The mean of {@code metric} over the results where it is not NaN; NaN when it is NaN in all. */
    private double meanOf(java.util.function.ToDoubleFunction<GenerationResult> metric) {
        return results.stream().mapToDouble(metric).filter(v -> !Double.isNaN(v)).average().orElse(Double.NaN);
    }

    /** Accepted / proposed drafts, NaN when the mode does not draft. */
    public double acceptance() {
        return proposed == 0 ? Double.NaN : (double) accepted / proposed;
    }

    /** Wall milliseconds per generated token. */
    public double msPerToken() {
        return wallMs / Math.max(1, newTokens);
    }

    /** PPSD's pipeline bound {@code S_k = k / (α + k (1 - α))}. */
    public static double pipelineBound(int k, double alpha) {
        return k / (alpha + k * (1 - alpha));
    }

    /**
     * The cost-aware bound {@code S_c = T_ar / (max_i t_i · (α + k(1 - α)))} given AR's time per token and
     * this run's measured stage costs; NaN when no stage costs were measured.
     */
    public double costBound(double arMsPerToken) {
        if (stageMsPerToken == null || stageMsPerToken.length == 0 || Double.isNaN(acceptance())) {
            return Double.NaN;
        }
        double max = 0;
        for (double t : stageMsPerToken) {
            max = Math.max(max, t);
        }
        double a = acceptance();
        return arMsPerToken / (max * (a + stages * (1 - a)));
    }
}
