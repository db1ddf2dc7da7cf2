package dev.ppsd.engine.schedule;

import ai.djl.Device;
import dev.ppsd.engine.decode.DraftProposer;
import dev.ppsd.engine.decode.Scheduler;
import dev.ppsd.engine.decode.Sequence;
import dev.ppsd.engine.decode.SequenceSource;
import dev.ppsd.engine.decode.SpecMetrics;
import dev.ppsd.engine.decode.StopCriteria;
import dev.ppsd.engine.decode.Verifier;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.Settings;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * PPSD: the layers split into k stages, one worker thread (and device) per stage, verifying the oldest in-flight
 * token in the last stage while the first stage drafts the next one through the exit head (verify-while-draft).
 * SPD is the same pipeline with another {@link PipelineDrafter}: the SPD head drafts from the state the pipeline
 * held before the cycle, beside the stages. With {@code speculative == false} the same pipeline runs plain AR with
 * the sequences as micro-batches ({@code ar-pipe}), the non-speculative comparison point.
 *
 * <p>Many sequences share the pipeline: in each cycle a stage runs, as one batch, the entry that every active
 * sequence has at that stage, so one sequence's flush bubble is filled by the others' work. {@link #run} is the
 * cycle, step by step in the algorithm's words; which entries run in a cycle is planned by {@link #plan} from the
 * speculation controller's {@link Schedule}; what is measured lives in {@link PipelineStats}.
 */
public final class PipelineScheduler implements Scheduler {
    /** What precedes the oldest entry's position: committed tokens only. */
    private static final int[] NO_DRAFTS = new int[0];
    private final LlamaModel model;
    private final PipelineSplit split;
    private final List<PipelineStage> stages = new ArrayList<>();
    /** The drafter on its host stage; null for ar-pipe. */
    private final PipelineDrafter drafter;
    /** How many states each entry keeps for the drafter. */
    private final int stateDepths;
    private final boolean speculative;
    private final int maxBatch;
    private final PipelineStats stats;
    private final KvBudget budget;
    private final String plan;
    private SpeculationController controller;
    private long cycleNo;
    /** Prompt tokens that may enter stage 0 in a cycle besides the first prompt ({@code prefill_tokens_per_cycle}). */
    private final int prefillTokensPerCycle;
    /** Sequences taken from the source that wait for a cycle's prefill tokens (at most as many as free slots). */
    private final ArrayDeque<Sequence> pending = new ArrayDeque<>();

    /**
     * @param speculative draft (ppsd, spd: whichever drafter the plan holds) or not (ar-pipe)
     */
    public PipelineScheduler(LlamaModel model, DrafterPlan plan, List<Device> devices, boolean speculative,
            EngineOptions o) {
        PipelineSplit split = plan.split();
        if (devices.size() != split.stages()) {
            throw new IllegalArgumentException(split.stages() + " stages need " + split.stages()
                    + " devices but got " + devices.size());
        }
        if (speculative && split.stages() < 2) {
            throw new IllegalArgumentException(plan.mode() + " needs at least 2 stages but got " + split.stages());
        }
        if (speculative && plan.exitHead() != null && plan.exitHead().exitLayer() != split.to(0)) {
            throw new IllegalArgumentException("the exit head sits after layer " + plan.exitHead().exitLayer()
                    + " but stage 0 ends at layer " + split.to(0));
        }
        this.model = model;
        this.split = split;
        this.speculative = speculative;
        this.maxBatch = o.get(Settings.BATCH_SIZE);
        this.plan = plan.reason();
        int perCycle = o.get(Settings.PREFILL_TOKENS_PER_CYCLE);
        this.prefillTokensPerCycle = perCycle == 0 || split.stages() == 1 ? Integer.MAX_VALUE : perCycle;
        this.controller = new SpeculationController(o.get(Settings.SPECULATION).equals("auto"), split.stages());
        int k = split.stages();
        int drafterLayers = speculative ? plan.cacheLayers() : 0;
        long perPosition = KvBudget.bytesPerPosition(model.config(), model.config().numHiddenLayers()
                + drafterLayers, model.dataType());
        this.budget = KvBudget.of(o, perPosition, maxBatch, model.config().maxPositionEmbeddings() + k + 1);
        // each prefix cache takes its share of the budget: its layers' share of a position's K/V
        java.util.function.IntToLongFunction prefixBytes = layers -> o.get(Settings.PREFIX_CACHE)
                ? budget.prefixBytes() * KvBudget.bytesPerPosition(model.config(), layers, model.dataType())
                        / perPosition : -1;
        for (int s = 0; s < k; s++) {
            stages.add(new PipelineStage(model, s, k, split.from(s), split.to(s), devices.get(s),
                    prefixBytes.applyAsLong(split.to(s) - split.from(s))));
        }
        if (speculative) {
            PipelineStage host = stages.get(plan.host());
            this.drafter = plan.exitHead() != null
                    ? ExitHeadDrafter.on(plan.exitHead(), host.device(), host.manager(), host.rope(),
                            prefixBytes.applyAsLong(drafterLayers), model.dataType())
                    : SpdHeadDrafter.on(plan.spdHead(), split, host.device(), host.manager(), host.rope(),
                            prefixBytes.applyAsLong(drafterLayers), model.dataType());
            for (PipelineStage st : stages) {
                st.drafter(st == host ? drafter : null, drafter.stateDepths());
            }
        } else {
            this.drafter = null;
        }
        this.stateDepths = drafter == null ? 0 : drafter.stateDepths().length;
        this.stats = new PipelineStats(stages);
    }

    @Override
    public String mode() {
        return speculative ? drafter.mode() : "ar-pipe";
    }

    @Override
    public long[] prefixCacheCounts() {
        return stages.get(0).prefixCounts();
    }

    @Override
    public String refusal(Sequence s) {
        return budget.refusal(s.promptIds().length + s.budget() + stages.size() + 1, maxBatch);
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

    /** How many times a stage made or grew its caches, summed over the stages (tests). */
    int cacheAllocations() {
        return stages.stream().mapToInt(PipelineStage::cacheAllocations).sum();
    }

    /** The drafter on its host stage, null for ar-pipe (tests). */
    PipelineDrafter drafter() {
        return drafter;
    }

    /** Replaces what decides each cycle's schedule; tests use it to run every mix of schedules. */
    void decideWith(SpeculationController c) {
        controller = c;
    }

    /** Starts recording the next {@code maxCycles} cycles for a timeline; returns the trace being filled. */
    public PipelineTrace trace(int maxCycles) {
        return stats.trace(maxCycles);
    }

    /** Per-stage decode cost so far and the coordinator's time (both since creation). */
    public StageCosts stageCosts() {
        return stats.stageCosts();
    }

    /** Measured stage costs (exit head included in stage 0, hand-offs excluded) and coordinator time. */
    public record StageCosts(double[] msPerToken, double[] msPerCycle, double coordinatorMs) {
    }

    @Override
    public void run(SequenceSource source, StopCriteria stop) {
        int context = model.config().maxPositionEmbeddings();
        Lane[] lanes = new Lane[maxBatch];
        try {
            cycles(source, stop, context, lanes);
        } finally {
            pending.clear();
            stages.forEach(PipelineStage::releaseCaches);
        }
    }

    private void cycles(SequenceSource source, StopCriteria stop, int context, Lane[] lanes) {
        while (true) {
            stats.cycleStarts();
            // prefill: waiting sequences take free slots; each prompt enters stage 0 as one entry
            admit(lanes, source, context);
            // which entries run: every entry at its stage, as the controller's schedule for this cycle has it
            Schedule schedule = speculative ? controller.next(active(lanes)) : Schedule.AR_PIPE;
            List<List<InFlight>> work = plan(lanes, schedule);
            if (work.stream().allMatch(List::isEmpty)) {
                stats.runEnds();
                return;
            }
            if (drafter != null) {
                drafter.beforeStages(lanes, context); // SPD: what it drafts from is fixed before the stages run
            }
            // cycle: block b on stage b for every entry that sits at stage b, all stages concurrently (and the
            // drafter on its host)
            stats.stagesStart();
            runStages(work);
            stats.stagesEnd();
            if (drafter != null) {
                drafter.afterStages();
            }
            PipelineStats.Counts counts = new PipelineStats.Counts();
            for (Lane lane : lanes) {
                if (lane != null) {
                    counts.sequences++;
                    stats.charge(lane);
                    lane.moveOn();
                    if (verifyAndDraft(lane, stop, context, counts)) {
                        lanes[lane.slot] = null; // finished: the slot is free for the next waiting sequence
                        source.finished(lane.seq);
                    }
                }
            }
            stats.cycleEnds(work, schedule, counts, controller);
        }
    }

    /**
     * After a cycle, for one sequence: verify the entry that left the last block (accept, or commit the correction
     * and flush), then draft from the entry that left block 1. Returns true when the sequence finished.
     */
    private boolean verifyAndDraft(Lane lane, StopCriteria stop, int context, PipelineStats.Counts counts) {
        Sequence seq = lane.seq;
        InFlight oldest = lane.inFlight.peekFirst();
        if (oldest.stage == stages.size()) {
            // verify: the oldest entry (position p) has left the last block; its logits are the target for p + 1
            lane.inFlight.pollFirst();
            if (drafter == null || drafter.holdsPrompt(lane)) {
                seq.markPrefilled(); // (once the prompt has left the last block, every stage holds it)
            }
            if (drafter != null) {
                drafter.left(lane, oldest); // (SPD: its states make its final row at the next draft)
            } else {
                oldest.discard();
            }
            InFlight next = lane.inFlight.peekFirst(); // the draft for position p + 1, if any
            int token;
            boolean restart;
            if (next != null && next.draft) {
                lane.proposed++;
                Verifier.Verdict v = seq.verify(next.tokens[0], oldest.logits, next.q, NO_DRAFTS);
                token = v.token();
                if (v.accepted()) {
                    // accept: the draft is committed and keeps flowing
                    lane.accepted++;
                    counts.accepted++;
                    next.draft = false;
                    next.q = null;
                    restart = false;
                } else {
                    // reject: the correction is committed; every entry at positions > p is discarded
                    lane.flushes++;
                    counts.flushed++;
                    lane.discardFrom(oldest.end());
                    restart = true;
                }
            } else {
                // no draft in flight (ar-pipe, or the cycle did not draft): the target's own token
                token = seq.sample(oldest.logits);
                restart = true;
            }
            // commit
            counts.committed++;
            if (seq.commit(token, stop)) {
                finish(lane);
                return true;
            }
            if (restart) {
                // flush: truncate every stage's KV to p + 1 and restart the pipeline with the committed token
                for (PipelineStage st : stages) {
                    st.truncate(lane.slot, oldest.end());
                }
                lane.inFlight.add(new InFlight(lane, oldest.end(), new int[] {token}, false, null));
                return false;
            }
        }
        // draft: the newest entry has just left block 1; the drafter's logits give the draft for the next position
        InFlight newest = lane.inFlight.peekLast();
        if (newest != null && newest.wantDraft && newest.stage == 1 && newest.draftLogits != null
                && newest.end() < context) {
            DraftProposer.Draft d = seq.propose(newest.draftLogits, lane.draftsInFlight());
            newest.draftLogits = null;
            lane.inFlight.add(new InFlight(lane, newest.end(), new int[] {d.token()}, true, d.q()));
            counts.drafted++;
        }
        return false;
    }

    /**
     * Admits waiting sequences into free slots: each prompt enters stage 0 as one prefill entry. At most
     * ⌈slots/k⌉ per cycle, so the sequences enter out of phase and keep every stage busy (admitted all at once they
     * would move through the stages in lockstep, one stage at a time), and with k ≥ 2 stages at most
     * {@code prefill_tokens_per_cycle} prompt tokens after the first prompt. Rows that end together (the same budget,
     * no EOS) would otherwise refill their slots at once: stage 0 prefills them all while stage 1 decodes a few rows,
     * then stage 1 while stage 0 waits. Refilled over a few cycles, the stages prefill side by side (the 97M model on
     * 220 prompts at batch 32: the stages busy 85–86% of the cycles' time rather than 84% under ar-pipe, 84% rather
     * than 78% under ppsd, whose rows end less in step). A prompt costs about as much as its tokens, so the pace
     * counts the tokens each computes (those not copied from the prefix cache).
     */
    private void admit(Lane[] lanes, SequenceSource source, int context) {
        int k = stages.size();
        int admit = (lanes.length + k - 1) / k;
        List<Sequence> entering = new ArrayList<>();
        List<Integer> slots = new ArrayList<>();
        List<Integer> reuse = new ArrayList<>();
        int prefillTokens = 0;
        int free = lanes.length - active(lanes);
        while (pending.size() < free) {
            Sequence s = source.poll();
            if (s == null) {
                break;
            }
            pending.add(s);
        }
        // the caches grow with the longest sequence in flight: prompt + budget + the drafts ahead of it; sized once
        // for the longest of the sequences about to enter (growing for each in turn would touch fresh memory each time)
        int need = 0;
        for (Sequence s : pending) {
            need = Math.max(need, s.promptIds().length + s.budget() + k + 1);
        }
        for (int slot = 0; slot < lanes.length && !pending.isEmpty() && entering.size() < admit; slot++) {
            if (lanes[slot] == null) {
                Sequence s = pending.peek();
                int[] prompt = s.promptIds();
                int reused = prompt.length;
                if (!PromptLogprobs.wanted(s)) {
                    for (PipelineStage st : stages) {
                        reused = Math.min(reused, st.prefixMatch(prompt));
                    }
                } else {
                    reused = 0;
                }
                if (!entering.isEmpty() && prefillTokens + prompt.length - reused > prefillTokensPerCycle) {
                    break;
                }
                pending.poll();
                prefillTokens += prompt.length - reused;
                s.markStarted();
                entering.add(s);
                slots.add(slot);
                reuse.add(reused);
            }
        }
        if (entering.isEmpty()) {
            return;
        }
        ensureCaches(lanes.length, need);
        for (int i = 0; i < entering.size(); i++) {
            Sequence s = entering.get(i);
            int slot = slots.get(i);
            int[] prompt = s.promptIds();
            int reused = reuse.get(i);
            for (PipelineStage st : stages) {
                st.reset(slot);
            }
            // the prompt's longest prefix every stage's prefix cache holds is copied in, not computed
            if (!PromptLogprobs.wanted(s)) {
                for (PipelineStage st : stages) {
                    st.restorePrefix(slot, prompt, reused);
                }
            }
            Lane lane = new Lane(s, slot, k, stateDepths);
            lane.finalRows = reused;
            lane.inFlight.add(new InFlight(lane, reused, Arrays.copyOfRange(prompt, reused, prompt.length), false,
                    null));
            lanes[slot] = lane;
        }
    }

    /** Makes every stage's caches hold {@code need} positions per slot, the stages that must allocate side by side. */
    private void ensureCaches(int slots, int need) {
        List<PipelineStage> growing = new ArrayList<>();
        try {
            for (PipelineStage st : stages) {
                if (st.startEnsuringCaches(slots, need, budget.maxSequence())) {
                    growing.add(st);
                }
            }
        } finally {
            RuntimeException failed = null;
            for (PipelineStage st : growing) { // every started allocation is awaited, even after one failed
                try {
                    st.awaitCaches();
                } catch (RuntimeException e) {
                    failed = failed == null ? e : failed;
                }
            }
            if (failed != null) {
                throw failed;
            }
        }
    }

    /** Whether a sequence in slots {@code [from, to)} has an entry at stage 0. */
    private static boolean waitsAtStage0(Lane[] lanes, int from, int to) {
        for (int slot = from; slot < to; slot++) {
            if (lanes[slot] != null && lanes[slot].inFlight.stream().anyMatch(e -> e.stage == 0)) {
                return true;
            }
        }
        return false;
    }

    private static int active(Lane[] lanes) {
        int n = 0;
        for (Lane lane : lanes) {
            n += lane == null ? 0 : 1;
        }
        return n;
    }

    /**
     * The entries each stage runs this cycle under {@code schedule} (the schedule is decided before the cycle, so
     * stage 0 skips the drafter's LM head when nobody drafts):
     * <ul>
     *   <li>{@link Schedule#DRAFT}: every entry; each one entering stage 0 drafts.</li>
     *   <li>{@link Schedule#AR_PIPE}: every sequence has one entry in the pipe, and stage 0 takes at most
     *       ⌈decoding/k⌉ decode tokens a cycle (the others wait a cycle, in turn; prefills are paced by {@link
     *       #admit}), so the sequences stay spread over the
     *       stages, as after a staggered admission, also after drafting cycles left most of them in phase; with
     *       every slot decoding, only those of the block of slots whose turn it is, so each moves as a run of slots
     *       (a prompt, a batch of its own, does not wait for its block's turn).</li>
     *   <li>{@link Schedule#LOCKSTEP}: only the last stage that holds decode entries of greedy sequences runs them;
     *       their decode entries at earlier stages wait. Within k cycles every greedy sequence's entry is then at the
     *       same stage, and each cycle runs one stage with all of them as one batch, on the coordinator thread. A
     *       prompt does not wait: it is prefilled on a stage the batch leaves idle.</li>
     * </ul>
     * A sampled sequence's entries run every cycle and always draft, whatever the schedule: whether a token is
     * drafted, and the order of its entries through the stages, changes how its random stream is consumed, so a
     * timing-driven schedule would make its text depend on measured times rather than on its seed (with k > 2 a
     * draft held back could be verified before the draft after it is proposed).
     */
    private List<List<InFlight>> plan(Lane[] lanes, Schedule schedule) {
        int k = stages.size();
        List<List<InFlight>> work = new ArrayList<>();
        for (int b = 0; b < k; b++) {
            work.add(new ArrayList<>());
        }
        int decoding = 0; // the cap spreads decode entries; prefills are paced when admitted
        for (Lane lane : lanes) {
            decoding += lane == null || lane.inFlight.stream().anyMatch(InFlight::isPrefill) ? 0 : 1;
        }
        int stage0Cap = schedule == Schedule.AR_PIPE ? Math.max(1, (decoding + k - 1) / k) : Integer.MAX_VALUE;
        int stage0 = 0;
        cycleNo++;
        // the slots in k blocks of ⌈slots/k⌉, one block's turn per cycle: under ar-pipe, stage 0 takes the entries of
        // the block whose turn it is first (a sequence that waited is then among the first next time), and with every
        // slot decoding only those, so that the sequences that move together hold a run of slots, which a batch
        // attends over in place (spread over the slots, four rows of the 97M model attended over all eight, 14% dearer)
        int block = (lanes.length + k - 1) / k;
        int turn = (int) (cycleNo % ((lanes.length + block - 1) / block)); // (fewer than k blocks when slots < k)
        boolean blockOnly = schedule == Schedule.AR_PIPE && decoding == lanes.length && k > 1
                && waitsAtStage0(lanes, turn * block, Math.min(lanes.length, (turn + 1) * block)); // else it would idle
        for (int i = 0; i < lanes.length; i++) {
            Lane lane = lanes[(int) ((i + (long) turn * block) % lanes.length)];
            if (lane == null) {
                continue;
            }
            lane.cycles++;
            boolean sampled = !lane.seq.params().isGreedy();
            for (InFlight e : lane.inFlight) {
                e.ran = false;
                if (e.stage == 0) {
                    boolean paced = !sampled && !e.isPrefill(); // (prefills are paced by admit)
                    if (paced && (stage0 >= stage0Cap || blockOnly && lane.slot / block != turn)) {
                        continue; // waits a cycle at stage 0
                    }
                    stage0 += paced ? 1 : 0;
                    e.wantDraft = speculative && (schedule.drafts() || sampled);
                }
                e.ran = true;
                work.get(e.stage).add(e);
            }
        }
        if (schedule == Schedule.LOCKSTEP) {
            lockstep(work);
        }
        return work;
    }

    /**
     * Keeps, of the greedy sequences' single-token entries, only those at the last stage that holds any ({@link
     * #plan}); prompts run wherever they are, on the stages the lockstep batch leaves idle.
     */
    private static void lockstep(List<List<InFlight>> work) {
        int top = -1;
        for (int b = 0; b < work.size(); b++) {
            if (work.get(b).stream().anyMatch(PipelineScheduler::waitsInLockstep)) {
                top = b;
            }
        }
        for (int b = 0; b < top; b++) {
            work.get(b).removeIf(e -> {
                boolean holds = waitsInLockstep(e);
                e.ran &= !holds;
                return holds;
            });
        }
    }

    /** A greedy sequence's decode entry: it waits for the lockstep batch (a prompt or a sampled entry does not). */
    private static boolean waitsInLockstep(InFlight e) {
        return e.lane.seq.params().isGreedy() && e.tokens.length == 1;
    }

    private void finish(Lane lane) {
        if (drafter != null) {
            drafter.finished(lane);
        }
        lane.discardAll();
        lane.seq.setSpec(new SpecMetrics(lane.proposed, lane.accepted, lane.cycles, lane.flushes, lane.busyMs,
                lane.idleMs));
    }

    /**
     * Runs one cycle: the first stage with work runs on this (the coordinator's) thread while the other stages with
     * work run on their workers, so a cycle costs one hand-off per extra busy stage and a cycle with a single busy
     * stage (one sequence without a draft in flight, or lockstep) costs none.
     */
    private void runStages(List<List<InFlight>> work) {
        int here = -1;
        boolean[] busy = new boolean[work.size()];
        for (int b = 0; b < work.size(); b++) {
            PipelineStage st = stages.get(b);
            busy[b] = !work.get(b).isEmpty() || st.drafts();
            if (!busy[b]) {
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
            if (busy[b]) {
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
        stages.forEach(PipelineStage::close); // (the host closes the drafter)
    }
}
