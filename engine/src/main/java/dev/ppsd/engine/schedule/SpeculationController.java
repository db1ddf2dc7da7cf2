package dev.ppsd.engine.schedule;

/**
 * Decides, cycle by cycle, whether the pipeline drafts (PPSD) or runs plain pipelined AR with the sequences
 * as micro-batches (doc section 6), from what each schedule has actually cost: wall milliseconds per committed
 * token, measured over recent cycles of each (exponentially decayed, so the estimate follows the acceptance
 * rate, the number of active sequences and the machine). Measuring instead of modelling keeps every cost in
 * the comparison: flush bubbles, the drafter's work, hand-offs, two stages slowing each other on shared
 * caches, and a lone sequence's plain cycles running on one thread.
 *
 * <p>Start: {@value #WARMUP} cycles of each schedule. Then the cheaper one runs, with a {@value #MARGIN}
 * margin against flapping, and now and then the other one runs for {@value #PROBE_CYCLES} cycles to refresh
 * its estimate: {@value #PROBE_EVERY} cycles after a switch, twice as long after each probe that confirmed the
 * choice, up to {@value #MAX_PROBE_EVERY} (so a clear choice costs about 1% in probes). The first k cycles after a switch (k stages) count for
 * neither schedule: they still carry the other one's entries. Only greedy sequences follow the decision: a sampled sequence always drafts,
 * so that its text depends on its seed only.
 */
final class SpeculationController {
    static final int WARMUP = 12;
    static final int PROBE_EVERY = 64;
    static final int MAX_PROBE_EVERY = 1024;
    static final int PROBE_CYCLES = 12;
    static final double MARGIN = 0.05;
    /** Per-cycle decay of past observations of a schedule: an effective window of ~30 cycles. */
    private static final double DECAY = 0.967;
    private final boolean adaptive;
    private final int stages;
    private Boolean lastDrafted;
    private int sinceSwitch;
    private final double[] ms = new double[2]; // [drafting, plain]
    private final double[] tokens = new double[2];
    private final long[] samples = new long[2];
    private boolean preferDraft = true;
    private long nextProbe;
    private long probeEvery = PROBE_EVERY;
    private long cycle;
    private int probeLeft;

    /**
     * @param stages the pipeline depth: after a switch the first {@code stages} cycles still carry the other
     *               schedule's entries (a draft refilling the pipe, or old drafts still being verified), so they
     *               are not counted for either schedule
     */
    SpeculationController(boolean adaptive, int stages) {
        this.adaptive = adaptive;
        this.stages = stages;
    }

    /** Records one cycle: whether it drafted, its wall time (coordinator included) and the tokens it committed. */
    void observeCycle(boolean drafted, double wallMs, int committed) {
        if (lastDrafted == null || lastDrafted != drafted) {
            lastDrafted = drafted;
            sinceSwitch = 0;
        }
        if (sinceSwitch++ < stages) {
            return; // a transition cycle
        }
        int i = drafted ? 0 : 1;
        ms[i] = ms[i] * DECAY + wallMs;
        tokens[i] = tokens[i] * DECAY + committed;
        samples[i]++;
    }

    /** Whether the next cycle drafts. */
    boolean draft() {
        if (!adaptive) {
            return true;
        }
        cycle++;
        if (samples[0] < WARMUP) {
            return true;
        }
        if (samples[1] < WARMUP) {
            return false;
        }
        double spec = msPerToken(0);
        double plain = msPerToken(1);
        boolean before = preferDraft;
        if (preferDraft && spec > (1 + MARGIN) * plain) {
            preferDraft = false;
        } else if (!preferDraft && plain > (1 + MARGIN) * spec) {
            preferDraft = true;
        }
        if (preferDraft != before || nextProbe == 0) {
            probeEvery = PROBE_EVERY; // a new choice: check it again soon
            nextProbe = cycle + probeEvery;
        }
        if (probeLeft > 0) {
            probeLeft--;
            return !preferDraft;
        }
        if (cycle >= nextProbe) {
            probeLeft = PROBE_CYCLES - 1;
            probeEvery = Math.min(MAX_PROBE_EVERY, probeEvery * 2);
            nextProbe = cycle + PROBE_CYCLES + probeEvery;
            return !preferDraft;
        }
        return preferDraft;
    }

    /** Measured wall ms per committed token of drafting (0) or plain (1) cycles; infinite before any commit. */
    double msPerToken(int schedule) {
        return tokens[schedule] <= 0 ? Double.POSITIVE_INFINITY : ms[schedule] / tokens[schedule];
    }
}
