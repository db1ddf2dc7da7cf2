package dev.ppsd.engine.schedule;

import ai.djl.Device;
import dev.ppsd.engine.decode.Sampler;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.SpecMetrics;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.decode.Verifier;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.LlamaModel;

import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * PPSD: the layers split into k stages, one worker thread (and device) per stage, verifying the oldest
 * in-flight token in the last stage while the first stage drafts the next one through the exit head
 * (verify-while-draft). With {@code speculative == false} the same pipeline runs plain AR with the
 * sequences as micro-batches ({@code ar-pipe}), the non-speculative comparison point.
 *
 * <p>Many sequences share the pipeline: in each cycle a stage runs, as one batch, the entry that every
 * active sequence has at that stage, so one sequence's flush bubble is filled by the others' work.
 */
public final class PipelineScheduler implements Scheduler {
    private final LlamaModel model;
    private final PipelineSplit split;
    private final List<PipelineStage> stages = new ArrayList<>();
    private final boolean speculative;
    private final int maxBatch;
    private double handoffMs;
    private SpeculationController controller;
    private PipelineTrace trace;
    private String plan;
    private int cycleDrafted;
    private int cycleAccepted;
    private int cycleFlushed;
    private int cycleCommitted;
    private long cycleNo;

    /**
     * @param speculative draft (ppsd) or not (ar-pipe)
     * @param adaptive    with speculation: let {@link SpeculationController} switch drafting off when pipelined
     *                    AR is predicted to be faster for the current number of sequences
     */
    public PipelineScheduler(LlamaModel model, DrafterPlan plan, List<Device> devices, boolean speculative,
            boolean adaptive, int maxBatch) {
        this(model, plan.head(), plan.split(), devices, speculative, adaptive, maxBatch);
        this.plan = plan.reason();
    }

    public PipelineScheduler(LlamaModel model, ExitHead head, PipelineSplit split, List<Device> devices,
            boolean speculative, boolean adaptive, int maxBatch) {
        if (devices.size() != split.stages()) {
            throw new IllegalArgumentException(split.stages() + " stages need " + split.stages()
                    + " devices but got " + devices.size());
        }
        if (speculative && head == null) {
            throw new IllegalArgumentException("ppsd needs an exit head");
        }
        if (speculative && split.stages() < 2) {
            throw new IllegalArgumentException("ppsd needs at least 2 stages but got " + split.stages());
        }
        if (speculative && head.exitLayer() != split.to(0)) {
            throw new IllegalArgumentException("the exit head sits after layer " + head.exitLayer()
                    + " but stage 0 ends at layer " + split.to(0));
        }
        this.model = model;
        this.split = split;
        this.speculative = speculative;
        this.maxBatch = maxBatch;
        this.controller = new SpeculationController(adaptive, split.stages());
        for (int s = 0; s < split.stages(); s++) {
            stages.add(new PipelineStage(model, s, split.stages(), split.from(s), split.to(s), devices.get(s),
                    speculative ? head : null));
        }
    }

    @Override
    public String mode() {
        return speculative ? "ppsd" : "ar-pipe";
    }

    public PipelineSplit split() {
        return split;
    }

    /** What drafter and split the pipeline runs and why ({@link DrafterPlan#reason}). */
    public String plan() {
        return plan != null ? plan : "drafter and stages " + split + " given by the caller";
    }

    /** What {@code --speculation auto} has learned per number of sequences in flight; null when it does not run. */
    public String speculationSummary() {
        return speculative ? controller.summary() : null;
    }

    /** Replaces what decides each cycle's schedule; tests use it to run every mix of schedules. */
    void decideWith(SpeculationController c) {
        controller = c;
    }

    /** Coordinator time between cycles (verification, bookkeeping, hand-off routing), ms, since creation. */
    public double handoffMs() {
        return handoffMs;
    }

    /** Starts recording the next {@code maxCycles} cycles for a timeline; returns the trace being filled. */
    public PipelineTrace trace(int maxCycles) {
        trace = new PipelineTrace(maxCycles);
        return trace;
    }

    /** Per-stage decode cost so far: ms per single-token entry and ms per cycle with work (both since creation). */
    public StageCosts stageCosts() {
        int k = stages.size();
        double[] perToken = new double[k];
        double[] perCycle = new double[k];
        for (int b = 0; b < k; b++) {
            PipelineStage st = stages.get(b);
            perToken[b] = st.decodeTokens == 0 ? Double.NaN : st.decodeBusyMs / st.decodeTokens;
            perCycle[b] = st.decodeCycles == 0 ? Double.NaN : st.decodeBusyMs / st.decodeCycles;
        }
        return new StageCosts(perToken, perCycle, handoffMs);
    }

    /** Measured stage costs (exit head included in stage 0, hand-offs excluded) and coordinator time. */
    public record StageCosts(double[] msPerToken, double[] msPerCycle, double handoffMs) {
    }

    @Override
    public void run(List<Sequence> sequences, StopCriteria stop) {
        int context = model.config().maxPositionEmbeddings();
        WorkQueue q = WorkQueue.of(sequences, stages.size() + 1, context, maxBatch);
        Deque<Sequence> waiting = q.waiting();
        int cacheLen = q.cacheLen();
        int slots = q.slots();
        stages.forEach(st -> st.allocate(slots, cacheLen));
        int k = stages.size();
        Lane[] lanes = new Lane[slots];
        while (true) {
            long tBook = System.nanoTime();
            long cycleStart = tBook;
            // admit: a waiting sequence takes a free slot; its prompt enters stage 0 as one prefill entry.
            // At most ⌈slots/k⌉ per cycle, so the sequences enter out of phase and keep every stage busy
            // (admitted all at once they would move through the stages in lock-step, one stage at a time).
            int admit = (slots + k - 1) / k;
            for (int slot = 0; slot < slots && admit > 0; slot++) {
                if (lanes[slot] == null && !waiting.isEmpty()) {
                    admit--;
                    Sequence s = waiting.poll();
                    s.markStarted();
                    Lane lane = new Lane(s, slot, k);
                    for (PipelineStage st : stages) {
                        st.reset(slot);
                    }
                    lane.inFlight.add(new InFlight(lane, 0, s.promptIds(), false, null));
                    lanes[slot] = lane;
                }
            }
            // decided before the cycle, so stage 0 skips the drafter's LM head when nobody drafts. A sampled
            // sequence always drafts: whether a token is drafted changes how its random stream is consumed, so
            // a timing-driven switch would make its text depend on measured times rather than on its seed
            // (and neither does the order of its entries through the stages: with k > 2 stages a draft held back
            // could be verified before the draft after it is proposed, so sampled entries are never held back)
            int active = 0;
            for (Lane lane : lanes) {
                active += lane == null ? 0 : 1;
            }
            Schedule schedule = speculative ? controller.next(active) : Schedule.PIPE;
            boolean drafting = schedule == Schedule.DRAFT;
            // cycle: block b on stage b for every entry that sits at stage b, all stages concurrently
            List<List<InFlight>> work = new ArrayList<>();
            for (int b = 0; b < k; b++) {
                work.add(new ArrayList<>());
            }
            // pipelined without drafts every sequence has one entry in the pipe, and stage 0 takes at most
            // ⌈active/k⌉ new tokens a cycle (the others wait a cycle, in turn): the sequences then stay spread over
            // the stages, as after a staggered admission, also after drafting cycles left most of them in phase
            int stage0Cap = schedule == Schedule.PIPE ? Math.max(1, (active + k - 1) / k) : Integer.MAX_VALUE;
            int stage0 = 0;
            boolean any = false;
            cycleNo++;
            for (int i = 0; i < slots; i++) {
                Lane lane = lanes[(int) ((i + cycleNo) % slots)];
                if (lane != null) {
                    lane.cycles++;
                    boolean sampled = !lane.seq.params().isGreedy();
                    for (InFlight e : lane.inFlight) {
                        e.ran = false;
                        if (e.stage == 0) {
                            if (!sampled && stage0 >= stage0Cap) {
                                continue; // waits a cycle at stage 0
                            }
                            stage0 += sampled ? 0 : 1;
                            e.wantDraft = speculative && (drafting || sampled);
                        }
                        e.ran = true;
                        work.get(e.stage).add(e);
                        any = true;
                    }
                }
            }
            if (schedule == Schedule.SERIAL) {
                runOnlyTheLastBusyStage(work);
            }
            if (!any) {
                handoffMs += (System.nanoTime() - tBook) / 1e6;
                return;
            }
            handoffMs += (System.nanoTime() - tBook) / 1e6;
            long tCycle = System.nanoTime();
            runCycle(work);
            long tDone = System.nanoTime();
            double cycleMs = (tDone - tCycle) / 1e6;
            tBook = System.nanoTime();
            cycleDrafted = 0;
            cycleAccepted = 0;
            cycleFlushed = 0;
            cycleCommitted = 0;
            for (Lane lane : lanes) {
                if (lane == null) {
                    continue;
                }
                for (int b = 0; b < k; b++) {
                    lane.busyMs[b] += stages.get(b).lastBusyMs;
                    lane.idleMs[b] += cycleMs - stages.get(b).lastBusyMs;
                }
                lane.inFlight.forEach(e -> e.stage += e.ran ? 1 : 0);
                if (advance(lane, stop, context)) {
                    lanes[lane.slot] = null;
                }
            }
            if (trace != null) {
                record(work, tCycle, tDone);
            }
            long end = System.nanoTime();
            handoffMs += (end - tBook) / 1e6;
            controller.observeCycle(schedule, withoutPrefills((end - cycleStart) / 1e6), cycleCommitted);
        }
    }

    /**
     * After a cycle: verify the entry that left the last stage (accept / reject + flush), then draft from
     * the entry that left stage 0. Returns true when the sequence finished and left the pipeline.
     */
    private boolean advance(Lane lane, StopCriteria stop, int context) {
        Sequence seq = lane.seq;
        int k = stages.size();
        // verify: the oldest entry has left the last block; its logits are the target for position end()
        InFlight oldest = lane.inFlight.peekFirst();
        if (oldest.stage == k) {
            lane.inFlight.pollFirst();
            oldest.release();
            float[] target = oldest.logits;
            InFlight next = lane.inFlight.peekFirst(); // the draft for position oldest.end(), if any
            int committed;
            boolean flushed;
            if (next != null && next.draft) {
                lane.proposed++;
                Verifier.Verdict v = Verifier.verify(next.tokens[0], target, next.q, seq.params(), seq.rng());
                cycleAccepted += v.accepted() ? 1 : 0;
                cycleFlushed += v.accepted() ? 0 : 1;
                if (v.accepted()) {
                    // accept: the draft is committed and keeps flowing
                    lane.accepted++;
                    next.draft = false;
                    next.q = null;
                    flushed = false;
                } else {
                    // reject: commit the correction, flush everything in flight from this position
                    lane.flushes++;
                    lane.discardFrom(oldest.end());
                    flushed = true;
                }
                committed = v.token();
            } else {
                // no draft in flight (ar-pipe, or drafting was skipped): commit the target's own token
                committed = Sampler.sample(target, seq.params(), seq.rng());
                flushed = true;
            }
            cycleCommitted++;
            if (seq.commit(committed, stop)) {
                finish(lane);
                return true;
            }
            if (flushed) {
                // flush (truncate KV to p+1) and restart the pipeline with the committed token at block 1
                for (PipelineStage st : stages) {
                    st.truncate(lane.slot, oldest.end());
                }
                lane.inFlight.add(new InFlight(lane, oldest.end(), new int[] {committed}, false, null));
                return false;
            }
        }
        // draft: the newest entry has just left block 1; its exit-head logits give the next draft
        InFlight newest = lane.inFlight.peekLast();
        if (newest != null && newest.wantDraft && newest.stage == 1 && newest.end() < context) {
            float[] draftLogits = newest.logits;
            float[] q = seq.params().isGreedy() ? null : dev.ppsd.engine.decode.Sampler.distribution(draftLogits,
                    seq.params());
            int d = Verifier.propose(draftLogits, q, seq.params(), seq.rng());
            lane.inFlight.add(new InFlight(lane, newest.end(), new int[] {d}, true, q));
            cycleDrafted++;
        }
        return false;
    }

    /** A cycle's wall time as it would have been without its prompt prefills: the slowest stage without them. */
    private double withoutPrefills(double wallMs) {
        double[] busy = new double[stages.size()];
        double[] prefill = new double[stages.size()];
        for (int b = 0; b < busy.length; b++) {
            busy[b] = stages.get(b).lastBusyMs;
            prefill[b] = stages.get(b).lastPrefillMs;
        }
        return withoutPrefills(wallMs, busy, prefill);
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

    /**
     * Lock-step: only the last stage with work of greedy sequences runs it, their entries at earlier stages wait.
     * Within k cycles every greedy sequence's entry is then at the same stage, and each cycle runs one stage with
     * all of them as one batch, on the coordinator thread (batched AR over the stage split). Sampled sequences'
     * entries run every cycle, as when drafting, so that their draws follow their seed only.
     */
    private static void runOnlyTheLastBusyStage(List<List<InFlight>> work) {
        int top = -1;
        for (int b = 0; b < work.size(); b++) {
            if (work.get(b).stream().anyMatch(e -> e.lane.seq.params().isGreedy())) {
                top = b;
            }
        }
        for (int b = 0; b < top; b++) {
            work.get(b).removeIf(e -> {
                boolean holds = e.lane.seq.params().isGreedy();
                e.ran &= !holds;
                return holds;
            });
        }
    }

    private void record(List<List<InFlight>> work, long start, long end) {
        int k = stages.size();
        double[] s0 = new double[k];
        double[] s1 = new double[k];
        int[] n = new int[k];
        for (int b = 0; b < k; b++) {
            n[b] = work.get(b).size();
            PipelineStage st = stages.get(b);
            s0[b] = n[b] == 0 ? Double.NaN : trace.since(st.lastStartNanos);
            s1[b] = n[b] == 0 ? Double.NaN : trace.since(st.lastEndNanos);
        }
        trace.add(new PipelineTrace.Cycle(trace.since(start), trace.since(end), s0, s1, n, cycleDrafted,
                cycleAccepted, cycleFlushed));
    }

    private void finish(Lane lane) {
        lane.discardAll();
        lane.seq.setSpec(new SpecMetrics(lane.proposed, lane.accepted, lane.cycles, lane.flushes, lane.busyMs,
                lane.idleMs));
    }

    /**
     * Runs one cycle: the first stage with work runs on this (the coordinator's) thread while the other
     * stages with work run on their workers, so a cycle costs one hand-off per extra busy stage and a cycle
     * with a single busy stage (one sequence without a draft in flight) costs none.
     */
    private void runCycle(List<List<InFlight>> work) {
        int here = -1;
        for (int b = 0; b < work.size(); b++) {
            PipelineStage st = stages.get(b);
            if (work.get(b).isEmpty()) {
                st.lastBusyMs = 0;
                st.lastPrefillMs = 0;
            } else if (here < 0) {
                here = b;
            } else {
                st.start(work.get(b));
            }
        }
        RuntimeException failed = null;
        try {
            stages.get(here).runHere(work.get(here));
        } catch (RuntimeException e) {
            failed = e;
        }
        for (int b = here + 1; b < work.size(); b++) {
            if (!work.get(b).isEmpty()) {
                try {
                    stages.get(b).await();
                } catch (RuntimeException e) {
                    failed = failed == null ? e : failed;
                }
            }
        }
        if (failed != null) {
            throw failed;
        }
    }

    @Override
    public void close() {
        stages.forEach(PipelineStage::close);
    }
}
