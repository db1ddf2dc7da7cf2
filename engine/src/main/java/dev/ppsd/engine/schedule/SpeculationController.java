package dev.ppsd.engine.schedule;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Decides, cycle by cycle, which {@link Schedule} the pipeline runs: drafting (PPSD), plain AR with
 * the sequences as micro-batches, or plain AR with the sequences in lockstep (one stage per cycle, all rows
 * at once: batched AR), from what each has actually cost: wall milliseconds per committed token (doc section
 * 6). Measuring instead of modelling keeps every cost in the comparison: flush bubbles, the drafter's work,
 * hand-offs, two stages slowing each other on shared caches and memory bandwidth, and a lone sequence's plain
 * cycles running on one thread. So the pipeline is never slower, beyond the cost of its probes, than the
 * better of ar-pipe and batched AR (lockstep) on the same device.
 *
 * <p>Which schedule wins depends on how many sequences are in the pipeline: one sequence leaves k−1 stages idle
 * without drafts, while enough sequences keep every stage busy without them, and drafting then only adds work
 * (the drafter's LM head, rejected drafts) unless the device runs more rows per step nearly for free. So each
 * occupancy class (1, 2–3, 4–7, 8–15, ... active sequences) learns its own choice, and keeps it for the
 * scheduler's lifetime: an executor that decodes many partitions learns once. A class seen for the first time
 * starts from what its neighbours learned, since drafting pays most with the fewest sequences: it takes the
 * plain schedule of the nearest class with fewer sequences that measured plain to be cheaper, unless a nearer
 * class with more sequences measured drafting to be; with no such neighbour it drafts (on the 2-core EPYC VM
 * drafting measured cheapest at every occupancy up to 32, on an earlier Intel VM ar-pipe won from about 16
 * sequences: the probes find out within some 60 cycles), unless the drafts verified so far (at least
 * {@value #ACCEPTANCE_SAMPLE}) were accepted less than {@value #MIN_ACCEPTANCE} of the time: then it starts with
 * ar-pipe (at α ≤ 0.16 drafting measured dearer than ar-pipe at every occupancy, on the bundled model and on a
 * 97M-parameter one; a short job with many rows would otherwise spend most of its cycles learning that); a class
 * that drafts only because it started there before the acceptance was known (no switch to drafting on a measurement:
 * a probe of one sequence measures ±10%, and the first one comes after some 10 verified drafts) starts over; either
 * probes first after {@value #PROBE_EVERY} cycles, as after a switch (a drafting probe at that acceptance costs
 * 10–40% more per token for its cycles). With one sequence the lockstep schedule is the ar-pipe one and is not
 * tried.
 *
 * <p>Within a class the preferred schedule runs and its cost is tracked over recent cycles (exponentially
 * decayed). Now and then one of the others runs for a short probe (in turn; with a poor drafter a class probes a
 * plain schedule first), and the probe's cost is compared
 * with the preferred schedule's cost just before it: both are measured at the same point of the run, so the
 * cost that grows with the context length (attention) cancels out. A probe wins when it is cheaper by
 * {@value #MARGIN} (a probe measures within ±15% of the truth, ±10% with one sequence: a poor drafter that costs
 * 4–8% more than plain decoding is found by the acceptance rule above, not by probes). The schedule changes when
 * the next probe, of the same schedule {@value #CONFIRM_AFTER} cycles later, wins too, against the preferred schedule's
 * cost over just those cycles (single probes of schedules within noise of each other would make the pipeline flip back
 * and forth, paying each transition; and the preferred schedule's decayed past can cost more than its present when
 * rows end and enter in waves: on the 97M model at batch 8, a lockstep probe won against ar-pipe cycles 10–20% dearer
 * than the ones around it, and the switch cost the bench 5–8%). A probe lasts
 * until it has {@value #PROBE_CYCLES} measured cycles, or {@value #SHORT_PROBE_CYCLES} when those already committed
 * {@value #SHORT_PROBE_TOKENS} tokens (many sequences: each cycle averages over many rows), always a multiple of k
 * (a lockstep round of k cycles commits once). A probe that already costs {@value #HOPELESS}× the preferred schedule
 * per token after a whole round of at least {@value #SHORT_PROBE_TOKENS}/2 tokens ends there, lost: no noise brings it
 * back under the margin (at 32 sequences of the 97M model on the 2-core CPU a lockstep probe cost 1.4× ar-pipe per
 * token). The
 * first probe comes after {@value #WARMUP} measured cycles; later ones {@value #PROBE_EVERY} cycles after a
 * switch and twice as far apart after each probe that lost, up to {@value #MAX_PROBE_EVERY}. Not measured: the
 * first k cycles after a change of schedule (they still carry the other schedule's entries). Prompt prefills
 * are the same work in every schedule and large: the scheduler reports each cycle's time without them.
 *
 * <p>The pipeline's coordinator drives it; its methods are synchronized so that another thread may read the
 * {@link #summary} meanwhile (a Spark task that ends while the executor's other tasks still generate).
 *
 * <p>Only greedy sequences follow the decision: a sampled sequence always drafts, so that its text depends on
 * its seed only. (Not final: tests script the schedule of every cycle by overriding {@link #next}.)
 */
class SpeculationController {
    static final int WARMUP = 16;
    static final int PROBE_EVERY = 64;
    static final int MAX_PROBE_EVERY = 1024;
    static final int PROBE_CYCLES = 12;
    static final int SHORT_PROBE_CYCLES = 4;
    static final int SHORT_PROBE_TOKENS = 64;
    /** A probe whose cycles cannot be measured (prefills) gives up after this many cycles. */
    static final int MAX_PROBE_LENGTH = 3 * PROBE_CYCLES;
    /** A probe this many times dearer per token than the preferred schedule ends after its first whole round. */
    static final double HOPELESS = 1.3;
    /** How much cheaper a probe must be to win. */
    static final double MARGIN = 0.05;
    /** Measured cycles of the preferred schedule between a winning probe and the probe that confirms it. */
    static final int CONFIRM_AFTER = 8;
    /** Below this acceptance of the drafts verified so far, classes that drafted only by default run ar-pipe. */
    static final double MIN_ACCEPTANCE = 0.25;
    /** Verified drafts before the acceptance counts. */
    static final int ACCEPTANCE_SAMPLE = 12;
    /** Per-cycle decay of the preferred schedule's past cycles: an effective window of ~30 cycles. */
    private static final double DECAY = 0.967;
    private final boolean adaptive;
    private final int stages;
    private final TreeMap<Integer, Choice> choices = new TreeMap<>();
    private Choice current;
    private Schedule last;
    private int sinceSwitch;
    private long draftsVerified;
    private long draftsAccepted;

    /**
     * @param adaptive false: always draft
     * @param stages   the pipeline depth k
     */
    SpeculationController(boolean adaptive, int stages) {
        this.adaptive = adaptive;
        this.stages = stages;
    }

    /** The schedule of the next cycle, with {@code active} sequences in the pipeline. */
    synchronized Schedule next(int active) {
        if (!adaptive) {
            return Schedule.DRAFT;
        }
        int cls = occupancyClass(active);
        Choice c = choices.get(cls);
        if (c == null) {
            c = new Choice(cls, initial(cls));
            choices.put(cls, c);
            if (c.preferred != Schedule.DRAFT && poorDrafter()) {
                c.probeLater();
            }
        }
        if (c.preferred == Schedule.DRAFT && c.switches == 0 && poorDrafter()) {
            c.startOver(Schedule.AR_PIPE); // it drafted only because the acceptance was not known yet
        }
        if (current != null && current != c && current.probing) {
            current.abandonProbe(); // its cycles would be compared across occupancies
        }
        current = c;
        return c.next();
    }

    /**
     * Records one cycle: the schedule it ran, its wall time (coordinator included) without the time its stages
     * spent prefilling prompts (the same work in every schedule, and large), and the tokens it committed.
     */
    synchronized void observeCycle(Schedule ran, double wallMs, int committed) {
        if (last != ran) {
            last = ran;
            sinceSwitch = 0;
        }
        boolean transition = sinceSwitch++ < stages;
        if (current != null && !transition) {
            current.observe(ran, wallMs, committed);
        }
    }

    /** Records the verdicts of one cycle's verified drafts (the acceptance so far informs where new classes start). */
    synchronized void observeDrafts(int accepted, int rejected) {
        draftsAccepted += accepted;
        draftsVerified += accepted + rejected;
    }

    /** The schedule currently preferred with {@code active} sequences. */
    synchronized Schedule preferred(int active) {
        int cls = occupancyClass(active);
        Choice c = choices.get(cls);
        return c == null ? initial(cls) : c.preferred;
    }

    /**
     * What each occupancy class has learned so far, e.g. {@code "1 seq: draft (95% of 5293 cycles drafted, 14
     * probes (3% of the cycles), 2 switches); 32-63 seqs: lockstep (8% of 240 cycles drafted, 70% lockstep, 3 probes
     * (15% of the cycles), 1 switch)"};
     * null when not adaptive or nothing ran.
     */
    synchronized String summary() {
        if (!adaptive || choices.isEmpty()) {
            return null;
        }
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<Integer, Choice> e : choices.entrySet()) {
            int lo = 1 << e.getKey();
            Choice c = e.getValue();
            long all = Arrays.stream(c.cycles).sum();
            long lockstep = c.cycles[Schedule.LOCKSTEP.ordinal()];
            sb.append(sb.length() == 0 ? "" : "; ").append(lo == 1 ? "1 seq" : lo + "-" + (2 * lo - 1) + " seqs")
                    .append(": ").append(c.preferred.label)
                    .append(String.format(Locale.ROOT, " (%d%% of %d cycles drafted, ",
                            percent(c.cycles[Schedule.DRAFT.ordinal()], all), all))
                    .append(lockstep == 0 ? "" : percent(lockstep, all) + "% lockstep, ")
                    .append(String.format(Locale.ROOT, "%d probe%s (%d%% of the cycles), %d switch%s)", c.probes,
                            c.probes == 1 ? "" : "s", percent(c.probeCycles, all), c.switches,
                            c.switches == 1 ? "" : "es"));
        }
        return sb.toString();
    }

    private static long percent(long part, long all) {
        return Math.round(100.0 * part / Math.max(1, all));
    }

    /** ⌊log2 active⌋: 1, 2–3, 4–7, ... sequences. */
    private static int occupancyClass(int active) {
        return 31 - Integer.numberOfLeadingZeros(Math.max(1, active));
    }

    /** Where a class seen for the first time starts: from its nearest informative neighbour, else the prior. */
    private Schedule initial(int cls) {
        // nearest first; at equal distance the class with more sequences (drafting) is asked first
        for (int d = 1; d < 32; d++) {
            Choice above = choices.get(cls + d);
            if (above != null && above.learned() && above.preferred == Schedule.DRAFT) {
                return Schedule.DRAFT;
            }
            Choice below = choices.get(cls - d);
            if (below != null && below.learned() && below.preferred != Schedule.DRAFT) {
                return below.preferred;
            }
        }
        return poorDrafter() ? Schedule.AR_PIPE : Schedule.DRAFT;
    }

    /** Whether the drafts verified so far say that this drafter is too poor to start a class drafting. */
    private boolean poorDrafter() {
        return draftsVerified >= ACCEPTANCE_SAMPLE && draftsAccepted < MIN_ACCEPTANCE * draftsVerified;
    }

    /** What one occupancy class has learned: its preferred schedule, that schedule's cost, the probe state. */
    private final class Choice {
        Schedule preferred;
        /** The schedules this class may run, in the order they are probed. */
        private final List<Schedule> candidates = new ArrayList<>();
        private double ms;
        private double tokens;
        private boolean probing;
        private Schedule probe;
        private Schedule lastProbed;
        private int probeLength;
        private int probeMeasured;
        private double probeMs;
        private double probeTokens;
        private long measured;
        private long nextProbe = WARMUP;
        private long probeEvery = PROBE_EVERY;
        /** A schedule whose probe won once and is probed again to confirm it; null when none. */
        private Schedule confirming;
        private int finishedProbes;
        final long[] cycles = new long[Schedule.values().length];
        /** Cycles that ran a probe (a schedule other than the preferred one, to measure it). */
        long probeCycles;
        int probes;
        int switches;

        Choice(int cls, Schedule preferred) {
            this.preferred = preferred;
            for (Schedule s : Schedule.values()) {
                if (s != Schedule.LOCKSTEP || cls > 0) {
                    candidates.add(s);
                }
            }
        }

        /** Whether this class's choice rests on a measurement (a finished probe) rather than on its start. */
        boolean learned() {
            return finishedProbes > 0;
        }

        Schedule next() {
            Schedule s = decide();
            cycles[s.ordinal()]++;
            if (probing) {
                probeCycles++;
            }
            return s;
        }

        private Schedule decide() {
            if (probing) {
                boolean enough = probeMeasured >= PROBE_CYCLES
                        || probeMeasured >= SHORT_PROBE_CYCLES && probeTokens >= SHORT_PROBE_TOKENS;
                boolean done = enough && probeMeasured % stages == 0 || probeLength >= MAX_PROBE_LENGTH
                        || hopeless();
                if (!done) {
                    probeLength++;
                    return probe;
                }
                finishProbe();
            }
            if (measured >= nextProbe) {
                probing = true;
                probes++;
                probe = confirming != null ? confirming : nextAlternative();
                lastProbed = probe;
                probeLength = 1;
                probeMeasured = 0;
                probeMs = 0;
                probeTokens = 0;
                return probe;
            }
            return preferred;
        }

        /** Whether the probe, after whole rounds of enough tokens, costs {@value #HOPELESS}× the preferred schedule. */
        private boolean hopeless() {
            return probeMeasured >= stages && probeMeasured % stages == 0 && probeTokens >= SHORT_PROBE_TOKENS / 2.0
                    && tokens > 0 && probeMs / probeTokens > HOPELESS * ms / tokens;
        }

        /**
         * The candidate after the last one probed, skipping the preferred one. A class's first probe with a poor
         * drafter goes on as if drafting had just been probed, so it is a plain schedule when there is one: drafting
         * is then the least likely to win and the dearest to be wrong about (a drafting probe at 32 sequences, α ≈
         * 0.1, cost a 126-cycle job 5% on the 97M model).
         */
        private Schedule nextAlternative() {
            Schedule after = lastProbed != null ? lastProbed : poorDrafter() ? Schedule.DRAFT : null;
            int i = after == null ? -1 : candidates.indexOf(after);
            for (int n = 1; n <= candidates.size(); n++) {
                Schedule s = candidates.get((i + n) % candidates.size());
                if (s != preferred) {
                    return s;
                }
            }
            throw new IllegalStateException("no schedule to probe besides " + preferred);
        }

        void observe(Schedule ran, double wallMs, int committed) {
            if (probing && ran == probe) {
                probeMs += wallMs;
                probeTokens += committed;
                probeMeasured++;
            } else if (!probing && ran == preferred) {
                ms = ms * DECAY + wallMs;
                tokens = tokens * DECAY + committed;
                measured++;
            }
        }

        /** Forgets what was measured and starts again from {@code start}. */
        void startOver(Schedule start) {
            probing = false; // (a first probe under way measured against what is forgotten)
            confirming = null;
            preferred = start;
            ms = 0;
            tokens = 0;
            measured = 0;
            probeLater();
        }

        /** The first probe comes {@value #PROBE_EVERY} measured cycles from now, as after a switch. */
        void probeLater() {
            nextProbe = measured + PROBE_EVERY;
        }

        void abandonProbe() {
            probing = false;
            nextProbe = measured + SHORT_PROBE_CYCLES; // retried soon after the occupancy comes back
        }

        private void finishProbe() {
            probing = false;
            finishedProbes++;
            double probeCost = probeTokens <= 0 ? Double.POSITIVE_INFINITY : probeMs / probeTokens;
            double cost = tokens <= 0 ? Double.POSITIVE_INFINITY : ms / tokens;
            boolean won = probeCost * (1 + MARGIN) < cost;
            if (won && confirming != probe) {
                // one win may be noise, or the preferred schedule's past cycles may cost more than its present ones
                // (rows ending and entering in waves): probe again against a fresh measure of the preferred one, taken
                // over the few cycles between the two probes
                confirming = probe;
                ms = 0;
                tokens = 0;
                nextProbe = measured + CONFIRM_AFTER;
                return;
            }
            confirming = null;
            if (won) {
                switches++;
                preferred = probe;
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
