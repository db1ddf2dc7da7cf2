package dev.ppsd.engine.schedule;

import java.util.List;

/**
 * What the pipeline measures and reports, apart from the cycle itself: the coordinator's time between cycles, each
 * stage's busy time per decode token, the busy / idle time every sequence saw per stage, the optional timeline
 * ({@link PipelineTrace}), and each cycle's cost for the speculation controller (wall time without prompt prefills,
 * tokens committed).
 */
final class PipelineStats {
    /**
     * What a cycle's verifications did: drafts proposed by stage 0, drafts accepted / rejected, tokens committed; and
     * how many sequences were in the pipeline.
     */
    static final class Counts {
        int sequences;
        int drafted;
        int accepted;
        int flushed;
        int committed;
    }

    private final List<PipelineStage> stages;
    private double coordinatorMs;
    private volatile PipelineTrace trace;
    private long cycleStart;
    private long stagesStart;
    private long stagesEnd;

    PipelineStats(List<PipelineStage> stages) {
        this.stages = stages;
    }

    /** Starts recording the next {@code maxCycles} cycles; returns the trace being filled. */
    PipelineTrace trace(int maxCycles) {
        trace = new PipelineTrace(maxCycles);
        return trace;
    }

    /** Coordinator time between cycles (verification, bookkeeping, hand-off routing), ms, since creation. */
    double coordinatorMs() {
        return coordinatorMs;
    }

    void cycleStarts() {
        cycleStart = System.nanoTime();
    }

    void stagesStart() {
        stagesStart = System.nanoTime();
        coordinatorMs += (stagesStart - cycleStart) / 1e6;
    }

    void stagesEnd() {
        stagesEnd = System.nanoTime();
    }

    /** Bookkeeping that ended the run (no work left). */
    void runEnds() {
        coordinatorMs += (System.nanoTime() - cycleStart) / 1e6;
    }

    /** Adds what each stage did in the cycle to the busy / idle time of a sequence that was in the pipeline. */
    void charge(Lane lane) {
        double cycleMs = (stagesEnd - stagesStart) / 1e6;
        for (int b = 0; b < stages.size(); b++) {
            lane.busyMs[b] += stages.get(b).lastBusyMs;
            lane.idleMs[b] += cycleMs - stages.get(b).lastBusyMs;
        }
    }

    /**
     * Ends a cycle: records it in the trace (if on) and tells the controller what the cycle cost per committed
     * token, without the time its stages spent prefilling prompts (the same work in every schedule, and large).
     */
    void cycleEnds(List<List<InFlight>> work, Schedule schedule, Counts counts, SpeculationController controller) {
        PipelineTrace t = trace;
        if (t != null) {
            record(t, work, counts);
        }
        long end = System.nanoTime();
        coordinatorMs += (end - stagesEnd) / 1e6;
        double[] busy = new double[stages.size()];
        double[] prefill = new double[stages.size()];
        for (int b = 0; b < busy.length; b++) {
            busy[b] = stages.get(b).lastBusyMs;
            prefill[b] = stages.get(b).lastPrefillMs;
        }
        controller.observeDrafts(counts.accepted, counts.flushed);
        controller.observeCycle(schedule, withoutPrefills((end - cycleStart) / 1e6, busy, prefill), counts.committed);
    }

    /**
     * {@code wallMs} less what the prefills added to it: the stages run concurrently, so the cycle took the
     * slowest stage's busy time plus coordination, and without its prefills would have taken the slowest stage's
     * busy time without them plus the same coordination.
     */
    static double withoutPrefills(double wallMs, double[] busyMs, double[] prefillMs) {
        double with = 0;
        double without = 0;
        for (int b = 0; b < busyMs.length; b++) {
            with = Math.max(with, busyMs[b]);
            without = Math.max(without, busyMs[b] - prefillMs[b]);
        }
        return wallMs - (with - without);
    }

    /** Per-stage decode cost so far: ms per single-token entry and ms per cycle with work (both since creation). */
    PipelineScheduler.StageCosts stageCosts() {
        int k = stages.size();
        double[] perToken = new double[k];
        double[] perCycle = new double[k];
        for (int b = 0; b < k; b++) {
            PipelineStage st = stages.get(b);
            perToken[b] = st.decodeTokens == 0 ? Double.NaN : st.decodeBusyMs / st.decodeTokens;
            perCycle[b] = st.decodeCycles == 0 ? Double.NaN : st.decodeBusyMs / st.decodeCycles;
        }
        return new PipelineScheduler.StageCosts(perToken, perCycle, coordinatorMs);
    }

    private void record(PipelineTrace into, List<List<InFlight>> work, Counts counts) {
        int k = stages.size();
        double[] s0 = new double[k];
        double[] s1 = new double[k];
        int[][] slots = new int[k][];
        int[] prefillTokens = new int[k];
        for (int b = 0; b < k; b++) {
            slots[b] = work.get(b).stream().mapToInt(e -> e.lane.slot).toArray();
            prefillTokens[b] = work.get(b).stream().filter(InFlight::isPrefill).mapToInt(e -> e.tokens.length).sum();
            PipelineStage st = stages.get(b);
            s0[b] = slots[b].length == 0 ? Double.NaN : into.since(st.lastStartNanos);
            s1[b] = slots[b].length == 0 ? Double.NaN : into.since(st.lastEndNanos);
        }
        into.add(new PipelineTrace.Cycle(into.since(stagesStart), into.since(stagesEnd), s0, s1, slots,
                prefillTokens, counts.sequences, counts.drafted, counts.accepted, counts.flushed));
    }
}
