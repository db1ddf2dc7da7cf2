package dev.ppsd.engine.guided;

import dev.ppsd.engine.decode.LogitsRule;
import dev.ppsd.engine.decode.TokenHistory;

import java.util.Arrays;
import java.util.concurrent.atomic.LongAdder;

/**
 * The logits rule of one guided sequence: masks every token its {@link Constraint} does not allow at the position.
 * It keeps the automaton state after each generated token it has seen, keyed by those tokens: a call compares the
 * history with them, keeps the states of the common prefix and walks the rest, so drafts in flight advance it, and a
 * flush (a rejected draft, the correction in its place) rewinds it to the position the KV cache was truncated to.
 * The target's and the drafter's logits at a position see the same history, hence the same state and mask: p and q
 * are masked identically and speculation stays lossless.
 */
final class GuidedRule implements LogitsRule {
    private final Constraint constraint;
    private final LongAdder applies;
    private final LongAdder applyNanos;
    /** Generated tokens the states were walked along; {@code states[i]} is the state after the first i of them. */
    private int[] tokens = new int[32];
    private long[] states = new long[33];
    private int known;

    GuidedRule(Constraint constraint, LongAdder applies, LongAdder applyNanos) {
        this.constraint = constraint;
        this.applies = applies;
        this.applyNanos = applyNanos;
        states[0] = constraint.start();
    }

    @Override
    public void apply(float[] logits, TokenHistory history) {
        long t0 = System.nanoTime();
        constraint.mask(stateAt(history)).apply(logits);
        applies.increment();
        applyNanos.add(System.nanoTime() - t0);
    }

    /** The automaton state after the generated tokens of {@code history}. */
    long stateAt(TokenHistory history) {
        int p = history.promptLength();
        int n = history.length() - p;
        int same = 0;
        int limit = Math.min(n, known);
        while (same < limit && tokens[same] == history.tokenAt(p + same)) {
            same++;
        }
        if (same == n) {
            return states[n]; // a prefix of what was walked: nothing changes
        }
        if (n > tokens.length) {
            tokens = Arrays.copyOf(tokens, Math.max(n, 2 * tokens.length));
            states = Arrays.copyOf(states, tokens.length + 1);
        }
        for (int i = same; i < n; i++) {
            tokens[i] = history.tokenAt(p + i);
            states[i + 1] = constraint.step(states[i], tokens[i]);
        }
        known = n;
        return states[n];
    }
}
