package dev.ppsd.engine.schedule;

/**
 * Decides, cycle by cycle, whether the pipeline drafts (PPSD) or runs plain pipelined AR with the sequences
 * as micro-batches (doc section 6), from what each schedule has actually cost: wall milliseconds per committed
 * token. Measuring instead of modelling keeps every cost in the comparison: flush bubbles, the drafter's work,
 * hand-offs, two stages slowing each other on shared caches, and a lone sequence's plain cycles running on one
 * thread.
 *
 * <p>The preferred schedule runs and its cost is tracked over recent cycles (exponentially decayed). Now and
 * then the other one runs for a probe of {@value #PROBE_CYCLES} cycles, and the probe's cost is compared with
 * the preferred schedule's cost just before it: both are measured at the same point of the run, so the cost
 * that grows with the context length (attention) cancels out. The probe wins when it is cheaper by
 * {@value #MARGIN}. The first probe comes after {@value #WARMUP} cycles of drafting; later ones
 * {@value #PROBE_EVERY} cycles after a switch and twice as far apart after each probe that confirmed the
 * choice, up to {@value #MAX_PROBE_EVERY} cycles. The first k cycles after a change of schedule (k stages)
 * count for neither: they still carry the other schedule's entries.
 *
 * <p>Only greedy sequences follow the decision: a sampled sequence always drafts, so that its text depends on
 * its seed only.
 */
final class SpeculationController {
    static final int WARMUP = 16;
    static final int PROBE_EVERY = 64;
    static final int MAX_PROBE_EVERY = 1024;
    static final int PROBE_CYCLES = 12;
    static final double MARGIN = 0.05;
    /** Per-cycle decay of the preferred schedule's past cycles: an effective window of ~30 cycles. */
    private static final double DECAY = 0.967;
    private final boolean adaptive;
    private final int stages;
    private boolean preferDraft = true;
    private double ms;
    private double tokens;
    private boolean probing;
    private int probeLeft;
    private double probeMs;
    private double probeTokens;
    private long cycle;
    private long nextProbe = WARMUP;
    private long probeEvery = PROBE_EVERY;
    private Boolean lastDrafted;
    private int sinceSwitch;

    /**
     * @param adaptive false: always draft
     * @param stages   the pipeline depth k
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
        if (probing && drafted != preferDraft) {
            probeMs += wallMs;
            probeTokens += committed;
        } else if (!probing && drafted == preferDraft) {
            ms = ms * DECAY + wallMs;
            tokens = tokens * DECAY + committed;
        }
    }

    /** Whether the next cycle drafts. */
    boolean draft() {
        if (!adaptive) {
            return true;
        }
        cycle++;
        if (probing) {
            if (probeLeft > 0) {
                probeLeft--;
                return !preferDraft;
            }
            finishProbe();
        }
        if (cycle >= nextProbe) {
            probing = true;
            probeLeft = PROBE_CYCLES - 1;
            probeMs = 0;
            probeTokens = 0;
            return !preferDraft;
        }
        return preferDraft;
    }

    private void finishProbe() {
        probing = false;
        double probe = probeTokens <= 0 ? Double.POSITIVE_INFINITY : probeMs / probeTokens;
        double current = tokens <= 0 ? Double.POSITIVE_INFINITY : ms / tokens;
        if (probe * (1 + MARGIN) < current) {
            preferDraft = !preferDraft;
            ms = probeMs; // the new preferred schedule starts from its probe
            tokens = probeTokens;
            probeEvery = PROBE_EVERY;
        } else {
            probeEvery = Math.min(MAX_PROBE_EVERY, probeEvery * 2);
        }
        nextProbe = cycle + probeEvery;
    }

    /** The schedule currently preferred: true for drafting. */
    boolean prefersDraft() {
        return preferDraft;
    }
}
