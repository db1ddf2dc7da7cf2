package dev.ppsd.engine.schedule;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.Rope;
import dev.ppsd.engine.model.SpdHead;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * SPD's drafter: the {@link SpdHead} on its host stage, drafting from the pipeline's state as it is before the
 * cycle's stages run, on the host's thread beside the host's own block.
 *
 * <p>Per sequence, the head's cache holds the final rows of positions {@code [0, Lane.finalRows)} (tokens that left
 * the pipeline). When the entry entering stage 0 is one token that drafts, {@link #beforeStages} writes down the
 * rows of every later position: those of the tokens that have left the pipeline since (complete,
 * {@link Lane#completed}), then one per token in flight at its depth, the newest at depth 0 (its embedding only).
 * {@link #draft} runs them from {@code finalRows} on (the rows of tokens in flight written before are overwritten:
 * they move deeper every cycle) and leaves the newest row's draft logits on the entry. Once the stages are done,
 * the rows of the completed tokens are final ({@link #afterStages}). A flush truncates the head's cache with the
 * stages' to the verified length; no final row is ever past it. A prompt's tokens draft nothing until the prompt has
 * left the pipeline (its rows would all be embeddings). Once it has, its rows are made at the next cycle even when the
 * sequence does not draft then (a rows-only job), or at once when the sequence has finished ({@link #finished}): the
 * prompt then goes to the head's prefix store, and the request's other samples may start and reuse it.
 */
final class SpdHeadDrafter extends PipelineDrafter {
    private final SpdHead head;
    private final int[] bounds;
    private final List<Job> jobs = new ArrayList<>();
    private java.util.function.Consumer<Drafted> listener;

    /**
     * A draft and what it was made from: every token up to the newest and how many of them were in flight (the
     * newest at depth 0, the one before at depth 1, ...). Tests hold the head's cached drafts against its
     * teacher-forced ones with it.
     */
    record Drafted(int[] tokens, int inFlight, float[] logits) {
    }

    /** Consecutive positions of one type: their tokens and their states at the type's anchors (at plan time). */
    private record Segment(int[] tokens, NDArray[] states, int type) {
    }

    /**
     * What one sequence drafts from this cycle: rows for positions {@code [start, end)}, final up to {@code finalEnd};
     * the first {@code completedEntries} of its {@link Lane#completed} entries made them. {@code newest} is the entry
     * that gets the draft logits; null for a rows-only job (the rows of tokens that have left the pipeline).
     */
    private record Job(Lane lane, InFlight newest, int start, int finalEnd, int completedEntries,
            List<Segment> segments, int[] tokens, int inFlight) {
        /** Segment types and lengths: jobs with the same run as one batch. */
        String signature() {
            StringBuilder sb = new StringBuilder(newest == null ? "rows:" : "draft:");
            segments.forEach(s -> sb.append(s.type).append('x').append(s.tokens.length).append(','));
            return sb.toString();
        }
    }

    private SpdHeadDrafter(SpdHead head, PipelineSplit split, Device device, NDManager manager, Rope rope,
            long prefixBytes, DataType type) {
        super(device, manager, head.stack(rope), prefixBytes, type);
        this.head = head;
        this.bounds = split.bounds().clone();
    }

    /** The SPD head on its host stage's {@code device} (weights copied there, owned by {@code manager}). */
    static SpdHeadDrafter on(SpdHead head, PipelineSplit split, Device device, NDManager manager, Rope rope,
            long prefixBytes, DataType type) {
        return new SpdHeadDrafter(head.onDevice(device, manager), split, device, manager, rope, prefixBytes, type);
    }

    @Override
    String mode() {
        return "spd";
    }

    @Override
    int[] stateDepths() {
        return head.anchors();
    }

    @Override
    void beforeStages(Lane[] lanes, int context) {
        jobs.clear();
        for (Lane lane : lanes) {
            InFlight newest = lane == null ? null : lane.inFlight.peekLast();
            if (newest != null && newest.ran && newest.stage == 0 && newest.wantDraft && newest.tokens.length == 1
                    && newest.end() < context) {
                jobs.add(job(lane, newest));
            } else if (lane != null && promptLeft(lane)) {
                jobs.add(job(lane, null));
            }
        }
    }

    /** The job of {@code lane}: its completed tokens' rows, then (drafting for {@code newest}) its tokens in flight. */
    private Job job(Lane lane, InFlight newest) {
        List<Segment> segments = new ArrayList<>();
        int at = lane.finalRows;
        for (InFlight e : lane.completed) {
            at = add(segments, e, at, head.typeAfter(bounds.length - 1, bounds));
        }
        int finalEnd = at;
        for (InFlight e : newest == null ? List.<InFlight>of() : lane.inFlight) {
            at = add(segments, e, at, head.typeAfter(e.stage, bounds));
        }
        return new Job(lane, newest, lane.finalRows, finalEnd, lane.completed.size(), segments,
                listener == null || newest == null ? null : tokens(lane), lane.inFlight.size());
    }

    /** Whether {@code lane}'s prompt has left the pipeline but its rows are not yet in the head's cache. */
    private static boolean promptLeft(Lane lane) {
        return !lane.completed.isEmpty() && lane.completed.peekLast().end() >= lane.seq.promptIds().length
                && lane.finalRows < lane.seq.promptIds().length;
    }

    /** Calls {@code l} with every draft from now on (tests). */
    void onDraft(java.util.function.Consumer<Drafted> l) {
        this.listener = l;
    }

    /** The tokens of {@code lane} up to its newest: the committed ones, then those of entries in flight past them. */
    private static int[] tokens(Lane lane) {
        java.util.stream.IntStream.Builder b = java.util.stream.IntStream.builder();
        int committed = lane.seq.totalLength();
        for (int p = 0; p < committed; p++) {
            b.add(lane.seq.tokenAt(p));
        }
        lane.inFlight.stream().filter(e -> e.start >= committed).forEach(e -> java.util.Arrays.stream(e.tokens)
                .forEach(b::add));
        return b.build().toArray();
    }

    /** Adds {@code e}'s positions as a segment of {@code type}; returns the position after them. */
    private static int add(List<Segment> segments, InFlight e, int at, int type) {
        if (e.start != at) {
            throw new IllegalStateException("SPD rows of slot " + e.lane.slot + " jump from " + at + " to " + e.start);
        }
        segments.add(new Segment(e.tokens, e.states.clone(), type));
        return e.end();
    }

    @Override
    boolean drafts() {
        return !jobs.isEmpty();
    }

    @Override
    double draft() {
        Map<String, List<Job>> groups = new LinkedHashMap<>();
        for (Job j : jobs) {
            groups.computeIfAbsent(j.signature(), s -> new ArrayList<>()).add(j);
        }
        double prefillMs = 0;
        for (List<Job> group : groups.values()) {
            long t0 = System.nanoTime();
            run(group);
            if (group.get(0).segments.stream().anyMatch(s -> s.tokens.length > 1)) {
                prefillMs += (System.nanoTime() - t0) / 1e6; // a prompt's rows: once per sequence
            }
        }
        return prefillMs;
    }

    /**
     * Jobs of one signature as one batch: their rows, the head's layers from each {@code start}, the draft logits
     * (not for rows-only jobs).
     */
    private void run(List<Job> group) {
        int b = group.size();
        List<Segment> shape = group.get(0).segments;
        NDList parts = new NDList();
        for (int s = 0; s < shape.size(); s++) {
            int type = shape.get(s).type;
            int[][] tokens = new int[b][];
            NDArray[] states = new NDArray[type + 1];
            for (int r = 0; r < b; r++) {
                tokens[r] = group.get(r).segments.get(s).tokens;
            }
            for (int i = 1; i <= type; i++) {
                NDList rows = new NDList();
                for (Job j : group) {
                    rows.add(onHost(j.segments.get(s).states[i])); // [1, T_s, D]
                }
                states[i] = b == 1 ? rows.get(0) : NDArrays.concat(rows, 0); // [B, T_s, D]
            }
            parts.add(head.rows(manager, tokens, states, type)); // [B, T_s, D]
        }
        NDArray rows = parts.size() == 1 ? parts.get(0) : NDArrays.concat(parts, 1); // [B, T, D]
        int[] start = new int[b];
        int[] slots = new int[b];
        for (int r = 0; r < b; r++) {
            start[r] = group.get(r).start;
            slots[r] = group.get(r).lane.slot;
        }
        AttentionBatch a = stack().batch(manager, start, slots, (int) rows.getShape().get(1));
        NDArray h = head.advance(rows, a, cache()); // [B, T, D]
        // [B, 1, V] -> [B][V]
        float[][] logits = group.get(0).newest == null ? null : LlamaModel.rows(head.draftLogits(h));
        for (int r = 0; r < b; r++) {
            Job j = group.get(r);
            if (logits != null) {
                j.newest.draftLogits = logits[r];
                if (listener != null) {
                    listener.accept(new Drafted(j.tokens, j.inFlight, logits[r]));
                }
            }
            int[] prompt = j.lane.seq.promptIds();
            if (j.start < prompt.length && j.finalEnd >= prompt.length) {
                savePrefix(j.lane.slot, prompt, j.finalEnd); // the prompt's rows are final from now on
            }
        }
    }

    @Override
    void afterStages() {
        jobs.forEach(SpdHeadDrafter::settle);
        jobs.clear();
    }

    /** After {@code j} ran: its completed tokens' rows are final (their states go), the prompt's among them. */
    private static void settle(Job j) {
        Lane lane = j.lane;
        lane.finalRows = j.finalEnd;
        for (int i = 0; i < j.completedEntries; i++) {
            lane.completed.pollFirst().discard(); // its rows are in the head's cache now
        }
        if (lane.finalRows >= lane.seq.promptIds().length) {
            lane.seq.markPrefilled();
        }
    }

    @Override
    void finished(Lane lane) {
        if (promptLeft(lane)) {
            // on the coordinator, between cycles: the prompt's rows and prefix now, for the request's other samples
            Job j = job(lane, null);
            try (NDScope ignored = new NDScope()) {
                run(List.of(j));
            }
            settle(j);
        }
    }

    @Override
    void left(Lane lane, InFlight e) {
        lane.completed.add(e); // its states make its final row at the next draft
    }

    @Override
    boolean holdsPrompt(Lane lane) {
        return lane.finalRows >= lane.seq.promptIds().length;
    }
}
