package dev.ppsd.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;

import java.util.List;

/**
 * How the sequences of one cached forward call become its batch rows. When every sequence brings as many new tokens
 * {@code T} (all decoding one token, or one prompt alone), each is a row of a {@code [B, T, D]} batch. Else (prompts
 * among decode tokens) the batch is <em>flat</em>: every token is a row {@code [N, 1, D]} at its own position, the
 * single tokens first and then each prompt's tokens in a run, so a prompt's prefill rides on the decode batch's pass
 * over the weights instead of taking a pass of its own. The KV cache takes a run as one write of consecutive
 * positions; in attention the single tokens attend as a batch and each run attends over its slot in place, as its
 * prompt alone would ({@link AttentionBatch#flat}). On the bundled model a 15-token prompt added 2.5 ms to a batch of
 * 8 decode rows, against 7.2 ms as a call of its own, when runs still copied their slot's keys and values for every
 * row (one thread, 5 rounds; {@code docs/benchmarks.md}).
 */
public final class BatchRows {
    private final boolean flat;
    private final int tokensPerRow;
    private final int singleRows; // flat: the rows [0, singleRows) are sequences of one token
    private final int[] from; // sequence r holds the rows [from[r], from[r] + count[r])
    private final int[] count;
    private final int[] inRowOrder; // the sequences in the order their rows come
    private final int[] start;
    private final int[] slots;
    private final int[][] tokens;

    /** Sequence {@code r} writes {@code tokens[r]} into cache slot {@code slots[r]} from position {@code starts[r]}. */
    public BatchRows(int[] slots, int[] starts, int[][] tokens) {
        int b = slots.length;
        boolean ragged = false;
        for (int[] t : tokens) {
            ragged |= t.length != tokens[0].length;
        }
        this.flat = ragged;
        this.tokensPerRow = flat ? 1 : tokens[0].length;
        this.from = new int[b];
        this.count = new int[b];
        this.inRowOrder = new int[b];
        // flat: the single tokens first, then the runs, each group in the sequences' order
        int n = 0;
        int single = 0;
        int placed = 0;
        for (int pass = 0; pass < (flat ? 2 : 1); pass++) {
            for (int r = 0; r < b; r++) {
                if (!flat || (tokens[r].length == 1) == (pass == 0)) {
                    inRowOrder[placed++] = r;
                    from[r] = n;
                    count[r] = flat ? tokens[r].length : 1;
                    n += count[r];
                }
            }
            if (pass == 0) {
                single = n;
            }
        }
        this.singleRows = flat ? single : n;
        this.start = new int[n];
        this.slots = new int[n];
        this.tokens = new int[n][];
        for (int r = 0; r < b; r++) {
            for (int i = 0; i < count[r]; i++) {
                int row = from[r] + i;
                this.start[row] = starts[r] + i;
                this.slots[row] = slots[r];
                this.tokens[row] = flat ? new int[] {tokens[r][i]} : tokens[r];
            }
        }
    }

    /** Whether every token is a row of its own. */
    public boolean flat() {
        return flat;
    }

    /** The batch's token ids {@code [rows][tokens per row]}, for {@link ModelRunner#embed}. */
    public int[][] tokens() {
        return tokens;
    }

    /** The attention inputs of the call. */
    public AttentionBatch attention(ModelRunner runner) {
        return flat ? runner.flatBatch(start, slots, singleRows) : runner.batch(start, slots, tokensPerRow);
    }

    /** The batch's input from each sequence's hidden states {@code [1, T, D]} (one per sequence, in order). */
    public NDArray join(List<NDArray> hidden) {
        NDList rows = new NDList();
        for (int r : inRowOrder) {
            NDArray h = hidden.get(r);
            rows.add(flat ? h.reshape(h.getShape().get(1), 1, -1) : h);
        }
        return rows.size() == 1 ? rows.get(0) : NDArrays.concat(rows, 0);
    }

    /** Sequence {@code r}'s rows of the call's output {@code y} as {@code [1, T, D]}. */
    public NDArray rowsOf(NDArray y, int r) {
        NDArray rows = y.get(new NDIndex().addSliceDim(from[r], from[r] + count[r]));
        return flat ? rows.reshape(1, count[r], -1) : rows;
    }

    /** The last position of each sequence in the call's output {@code y}: {@code [B, 1, D]}. */
    public NDArray lastOfEach(NDArray y) {
        if (!flat) {
            return y.getShape().get(1) == 1 ? y : y.get(":, -1:, :");
        }
        long[] last = new long[from.length];
        for (int r = 0; r < last.length; r++) {
            last[r] = from[r] + count[r] - 1L;
        }
        return y.get(y.getManager().create(last));
    }
}
