package dev.ppsd.engine.schedule;

/**
 * Decides, cycle by cycle, whether the pipeline should draft (PPSD) or run plain pipelined AR with the
 * sequences as micro-batches, from measured acceptance and stage costs (doc section 6). A stage's cycle time
 * is modelled as {@code t(n) = o + c·n} for n single-token entries, fitted online per stage (least squares
 * over all decode cycles); with B active sequences and k stages:
 * <ul>
 *   <li>ar-pipe: every stage holds ⌈B/k⌉ entries, B/k tokens are committed per cycle;</li>
 *   <li>ppsd: every stage holds B entries, B / (α + k(1-α)) tokens are committed per cycle.</li>
 * </ul>
 * The cheaper schedule per committed token wins (choice: a 5% margin against flapping). While not drafting,
 * α is not observed, so the controller drafts again for a probe every {@value #PROBE_EVERY} cycles.
 */
final class SpeculationController {
    static final int PROBE_EVERY = 64;
    private static final int MIN_SAMPLES = 8;
    private final int stages;
    private final boolean adaptive;
    private final double[] n;
    private final double[] sx;
    private final double[] sy;
    private final double[] sxx;
    private final double[] sxy;
    private long proposed;
    private long accepted;
    private boolean drafting = true;
    private long cycle;

    SpeculationController(int stages, boolean adaptive) {
        this.stages = stages;
        this.adaptive = adaptive;
        n = new double[stages];
        sx = new double[stages];
        sy = new double[stages];
        sxx = new double[stages];
        sxy = new double[stages];
    }

    /** Records one decode cycle of stage {@code b}: {@code entries} single-token entries in {@code ms}. */
    void observeStage(int b, int entries, double ms) {
        n[b]++;
        sx[b] += entries;
        sy[b] += ms;
        sxx[b] += (double) entries * entries;
        sxy[b] += entries * ms;
    }

    void observeVerdicts(long newProposed, long newAccepted) {
        proposed += newProposed;
        accepted += newAccepted;
    }

    /** Acceptance so far (prior 0.5 before any draft was verified). */
    double alpha() {
        return (accepted + 1.0) / (proposed + 2.0);
    }

    /** Whether to draft in the next cycle with {@code active} sequences in the pipeline. */
    boolean draft(int active) {
        cycle++;
        if (!adaptive) {
            return true;
        }
        if (!drafting && cycle % PROBE_EVERY == 0) {
            return true; // probe: refresh the acceptance estimate
        }
        double[] spec = msPerToken(active);
        if (spec != null) {
            if (drafting && spec[0] > 1.05 * spec[1]) {
                drafting = false;
            } else if (!drafting && spec[0] * 1.05 < spec[1]) {
                drafting = true;
            }
        }
        return drafting;
    }

    /** Predicted [ppsd, ar-pipe] milliseconds per committed token, or null before enough samples. */
    double[] msPerToken(int active) {
        double a = alpha();
        double tokensSpec = active / (a + stages * (1 - a));
        double tokensPipe = (double) active / stages;
        double cycleSpec = 0;
        double cyclePipe = 0;
        for (int b = 0; b < stages; b++) {
            if (n[b] < MIN_SAMPLES) {
                return null;
            }
            double[] oc = fit(b);
            cycleSpec = Math.max(cycleSpec, oc[0] + oc[1] * active);
            cyclePipe = Math.max(cyclePipe, oc[0] + oc[1] * Math.ceil((double) active / stages));
        }
        return new double[] {cycleSpec / tokensSpec, cyclePipe / tokensPipe};
    }

    /** Least-squares [o, c] of stage b; falls back to a pure per-entry cost when entries never varied. */
    private double[] fit(int b) {
        double den = n[b] * sxx[b] - sx[b] * sx[b];
        if (Math.abs(den) < 1e-9) {
            return new double[] {0, sy[b] / Math.max(1e-9, sx[b])};
        }
        double c = (n[b] * sxy[b] - sx[b] * sy[b]) / den;
        double o = (sy[b] - c * sx[b]) / n[b];
        return new double[] {Math.max(0, o), Math.max(0, c)};
    }
}
