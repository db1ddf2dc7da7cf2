package dev.ppsd.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.ToIntFunction;

/**
 * How the sequences of one cached forward call become its batch rows. When every sequence brings as many new tokens
 * {@code T} (all decoding one token, or one prompt alone), each is a row of a {@code [B, T, D]} batch. Else (prompts
 * among decode tokens) the batch is <em>flat</em>: every token is a row {@code [N, 1, D]} at its own position, the
 * rows of one sequence sharing its cache slot, so a prompt's prefill rides on the decode batch's pass over the
 * weights instead of taking a pass of its own. The KV cache takes the rows of a slot as one run of positions, and
 * each row attends over its own copy of its slot's keys and values ({@link AttentionBatch}: rows that share a slot
 * gather), which {@link #joining} bounds. On the bundled model a 15-token prompt added 2.5 ms to a batch of 8 decode
 * rows, against 7.2 ms as a call of its own (one thread, 5 rounds; {@code docs/benchmarks.md}).
 */
public final class BatchRows {
    private final boolean flat;
    private final int tokensPerRow;
    private final int[] from; // sequence r holds the rows [from[r], from[r + 1])
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
        this.from = new int[b + 1];
        for (int r = 0; r < b; r++) {
            from[r + 1] = from[r] + (flat ? tokens[r].length : 1);
        }
        int n = from[b];
        this.start = new int[n];
        this.slots = new int[n];
        this.tokens = new int[n][];
        for (int r = 0; r < b; r++) {
            for (int row = from[r]; row < from[r + 1]; row++) {
                int i = row - from[r];
                this.start[row] = starts[r] + i;
                this.slots[row] = slots[r];
                this.tokens[row] = flat ? new int[] {tokens[r][i]} : tokens[r];
            }
        }
    }

    /**
     * At most this many numbers (keys and values) a flat call gathers for one layer: 2^20 (4 MiB in float32).
     * Measured on the 2-core VM: on the bundled model 8 decode rows and a 15-token prompt gather 0.65M and the flat
     * call saves 60% of what the prompt cost as a call of its own; on the 97M model, whose prompts cost a call that is
     * already compute-bound, flat calls of 8 prompts gathering about 6M made {@code ar} 10% slower over a whole run.
     */
    public static final long MAX_GATHERED = 1L << 20;

    /**
     * Which of {@code prompts} join {@code decode} (single-token entries) in one call: shortest first, while the keys
     * and values the flat rows gather for a layer (every row its slot's positions) stay within {@link #MAX_GATHERED}.
     * A prompt with no decode rows to join starts the call (a batch of its own length gathers nothing). The others
     * run as calls of their own.
     */
    public static <E> List<E> joining(LlamaConfig c, List<E> decode, List<E> prompts, ToIntFunction<E> length,
            ToIntFunction<E> end) {
        long perPosition = 2L * c.numKeyValueHeads() * c.headDim();
        List<E> sorted = new ArrayList<>(prompts);
        sorted.sort(Comparator.comparingInt(length));
        List<E> joining = new ArrayList<>();
        long rows = decode.size();
        int attend = decode.stream().mapToInt(end).max().orElse(0);
        for (E p : sorted) {
            int a = Math.max(attend, end.applyAsInt(p));
            long n = rows + length.applyAsInt(p);
            if (rows == 0 || n * a * perPosition <= MAX_GATHERED) {
                joining.add(p);
                rows = n;
                attend = a;
            }
        }
        return joining;
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
        return runner.batch(start, slots, tokensPerRow);
    }

    /** The batch's input from each sequence's hidden states {@code [1, T, D]} (one per sequence, in order). */
    public NDArray join(List<NDArray> hidden) {
        NDList in = new NDList();
        for (NDArray h : hidden) {
            in.add(flat ? h.reshape(h.getShape().get(1), 1, -1) : h);
        }
        return in.size() == 1 ? in.get(0) : NDArrays.concat(in, 0);
    }

    /** Sequence {@code r}'s rows of the call's output {@code y} as {@code [1, T, D]}. */
    public NDArray rowsOf(NDArray y, int r) {
        NDArray rows = y.get(new NDIndex().addSliceDim(from[r], from[r + 1]));
        return flat ? rows.reshape(1, from[r + 1] - from[r], -1) : rows;
    }

    /** The last position of each sequence in the call's output {@code y}: {@code [B, 1, D]}. */
    public NDArray lastOfEach(NDArray y) {
        if (!flat) {
            return y.getShape().get(1) == 1 ? y : y.get(":, -1:, :");
        }
        long[] last = new long[from.length - 1];
        for (int r = 0; r < last.length; r++) {
            last[r] = from[r + 1] - 1L;
        }
        return y.get(y.getManager().create(last));
    }
}
