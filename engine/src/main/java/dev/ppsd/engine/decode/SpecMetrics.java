package dev.ppsd.engine.decode;

/**
 * Speculation counters of one sequence (all zero for plain AR): drafts proposed and accepted by the
 * verifier, pipeline cycles, flushes after a rejected draft, and per-stage busy / idle (bubble) time.
 */
public record SpecMetrics(long draftsProposed, long draftsAccepted, long cycles, long flushes,
        double[] stageBusyMs, double[] stageIdleMs) {

    public static final SpecMetrics NONE = new SpecMetrics(0, 0, 0, 0, new double[0], new double[0]);

    /** Accepted / proposed, or NaN when nothing was proposed. */
    public double acceptance() {
        return draftsProposed == 0 ? Double.NaN : (double) draftsAccepted / draftsProposed;
    }
}
