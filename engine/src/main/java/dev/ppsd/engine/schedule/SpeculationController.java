package dev.ppsd.engine.schedule;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Decides, cycle by cycle, whether the pipeline drafts (PPSD) or runs plain pipelined AR with the sequences
 * as micro-batches (doc section 6), from what each schedule has actually cost: wall milliseconds per committed
 * token. Measuring instead of modelling keeps every cost in the comparison: flush bubbles, the drafter's work,
 * hand-offs, two stages slowing each other on shared caches, and a lone sequence's plain cycles running on one
 * thread.
 *
 * <p>Which schedule wins depends on how many sequences are in the pipeline: one sequence leaves k−1 stages idle
 * without drafts, while enough sequences keep every stage busy without them, and drafting then only adds work
 * (the drafter's LM head, rejected drafts) unless the device runs more rows per step nearly for free. So each
 * occupancy class (1, 2–3, 4–7, 8–15, ... active sequences) learns its own choice, and keeps it for the
 * scheduler's lifetime: an executor that decodes many partitions learns once. A class starts drafting when it
 * has fewer than four sequences per stage and plain otherwise (on the 2-core CPU drafting and plain cycles are
 * even at 8 sequences and plain wins at 32); measurement then decides.
 *
 * <p>Within a class the preferred schedule runs and its cost is tracked over recent cycles (exponentially
 * decayed). Now and then the other one runs for a short probe, and the probe's cost is compared with the
 * preferred schedule's cost just before it: both are measured at the same point of the run, so the cost that
 * grows with the context length (attention) cancels out. The probe wins when it is cheaper by {@value #MARGIN};
 * the schedule changes when the next probe, {@value #CONFIRM_AFTER} cycles later, wins too (single probes of
 * schedules within noise of each other would make the pipeline flip back and forth, paying each transition).
 * A probe lasts until it has {@value #PROBE_CYCLES} measured cycles, or {@value #SHORT_PROBE_CYCLES} when those
 * already committed {@value #SHORT_PROBE_TOKENS} tokens (many sequences: each cycle averages over many rows). The
 * first probe comes after {@value #WARMUP} measured cycles; later ones {@value #PROBE_EVERY} cycles after a
 * switch and twice as far apart after each probe that confirmed the choice, up to {@value #MAX_PROBE_EVERY}.
 * Not measured: the first k cycles after a change of schedule (k stages; they still carry the other schedule's
 * entries) and cycles that prefill a prompt (the same work in either schedule, and large).
 *
 * <p>Only greedy sequences follow the decision: a sampled sequence always drafts, so that its text depends on
 * its seed only.
 */
final class SpeculationController {
    static final int WARMUP = 16;
    static final int PROBE_EVERY = 64;
    static final int MAX_PROBE_EVERY = 1024;
    static final int PROBE_CYCLES = 12;
    static final int SHORT_PROBE_CYCLES = 4;
    static final int SHORT_PROBE_TOKENS = 64;
    /** A probe whose cycles cannot be measured (prefills) gives up after this many cycles. */
    static final int MAX_PROBE_LENGTH = 3 * PROBE_CYCLES;
    static final double MARGIN = 0.05;
    /** Measured cycles of the preferred schedule between a winning probe and the probe that confirms it. */
    static final int CONFIRM_AFTER = 8;
    /** Per-cycle decay of the preferred schedule's past cycles: an effective window of ~30 cycles. */
    private static final double DECAY = 0.967;
    private final boolean adaptive;
    private final int stages;
    private final Map<Integer, Choice> choices = new HashMap<>();
    private Choice current;
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

    /** Whether the next cycle, with {@code active} sequences in the pipeline, drafts. */
    boolean draft(int active) {
        if (!adaptive) {
            return true;
        }
        Choice c = choices.computeIfAbsent(occupancyClass(active), this::initial);
        if (current != null && current != c && current.probing) {
            current.abandonProbe(); // its cycles would be compared across occupancies
        }
        current = c;
        return c.next();
    }

    /**
     * Records one cycle: whether it drafted, its wall time (coordinator included), the tokens it committed and
     * whether it prefilled a prompt.
     */
    void observeCycle(boolean drafted, double wallMs, int committed, boolean prefilled) {
        if (lastDrafted == null || lastDrafted != drafted) {
            lastDrafted = drafted;
            sinceSwitch = 0;
        }
        boolean transition = sinceSwitch++ < stages;
        if (current != null && !transition && !prefilled) {
            current.observe(drafted, wallMs, committed);
        }
    }

    /** The schedule currently preferred with {@code active} sequences: true for drafting. */
    boolean prefersDraft(int active) {
        Choice c = choices.get(occupancyClass(active));
        return c == null ? initial(occupancyClass(active)).preferDraft : c.preferDraft;
    }

    /**
     * What each occupancy class has learned so far, e.g. {@code "1 seq: drafts (95% of 5293 cycles drafted, 14
     * probes, 2 switches); 32-63 seqs: plain (8% of 240 cycles drafted, 3 probes, 0 switches)"}; null when not
     * adaptive or nothing ran.
     */
    String summary() {
        if (!adaptive || choices.isEmpty()) {
            return null;
        }
        StringBuilder sb = new StringBuilder();
        choices.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
            int lo = 1 << e.getKey();
            Choice c = e.getValue();
            long all = c.draftCycles + c.plainCycles;
            sb.append(sb.length() == 0 ? "" : "; ").append(lo == 1 ? "1 seq" : lo + "-" + (2 * lo - 1) + " seqs")
                    .append(": ").append(c.preferDraft ? "drafts" : "plain")
                    .append(String.format(Locale.ROOT, " (%d%% of %d cycles drafted, %d probe%s, %d switch%s)",
                            Math.round(100.0 * c.draftCycles / Math.max(1, all)), all, c.probes,
                            c.probes == 1 ? "" : "s", c.switches, c.switches == 1 ? "" : "es"));
        });
        return sb.toString();
    }

    /** ⌊log2 active⌋: 1, 2–3, 4–7, ... sequences. */
    private static int occupancyClass(int active) {
        return 31 - Integer.numberOfLeadingZeros(Math.max(1, active));
    }

    private Choice initial(int occupancyClass) {
        return new Choice((1 << occupancyClass) < 4 * stages);
    }

    /** What one occupancy class has learned: its preferred schedule, that schedule's cost, the probe state. */
    private static final class Choice {
        boolean preferDraft;
        private double ms;
        private double tokens;
        private boolean probing;
        private int probeLength;
        private int probeMeasured;
        private double probeMs;
        private double probeTokens;
        private long measured;
        private long nextProbe = WARMUP;
        private long probeEvery = PROBE_EVERY;
        private boolean confirming;
        long draftCycles;
        long plainCycles;
        int probes;
        int switches;

        Choice(boolean preferDraft) {
            this.preferDraft = preferDraft;
        }

        boolean next() {
            boolean d = decide();
            if (d) {
                draftCycles++;
            } else {
                plainCycles++;
            }
            return d;
        }

        private boolean decide() {
            if (probing) {
                boolean done = probeMeasured >= PROBE_CYCLES
                        || probeMeasured >= SHORT_PROBE_CYCLES && probeTokens >= SHORT_PROBE_TOKENS
                        || probeLength >= MAX_PROBE_LENGTH;
                if (!done) {
                    probeLength++;
                    return !preferDraft;
                }
                finishProbe();
            }
            if (measured >= nextProbe) {
                probing = true;
                probes++;
                probeLength = 1;
                probeMeasured = 0;
                probeMs = 0;
                probeTokens = 0;
                return !preferDraft;
            }
            return preferDraft;
        }

        void observe(boolean drafted, double wallMs, int committed) {
            if (probing && drafted != preferDraft) {
                probeMs += wallMs;
                probeTokens += committed;
                probeMeasured++;
            } else if (!probing && drafted == preferDraft) {
                ms = ms * DECAY + wallMs;
                tokens = tokens * DECAY + committed;
                measured++;
            }
        }

        void abandonProbe() {
            probing = false;
            nextProbe = measured + SHORT_PROBE_CYCLES; // retried soon after the occupancy comes back
        }

        private void finishProbe() {
            probing = false;
            double probe = probeTokens <= 0 ? Double.POSITIVE_INFINITY : probeMs / probeTokens;
            double cost = tokens <= 0 ? Double.POSITIVE_INFINITY : ms / tokens;
            boolean won = probe * (1 + MARGIN) < cost;
            if (won && !confirming) {
                confirming = true; // one win may be noise: probe again after a few cycles of the preferred one
                nextProbe = measured + CONFIRM_AFTER;
                return;
            }
            confirming = false;
            if (won) {
                switches++;
                preferDraft = !preferDraft;
                ms = probeMs; // the new preferred schedule starts from its probe
                tokens = probeTokens;
                probeEvery = PROBE_EVERY;
            } else {
                probeEvery = Math.min(MAX_PROBE_EVERY, probeEvery * 2);
            }
            nextProbe = measured + probeEvery;
        }
    }
}
