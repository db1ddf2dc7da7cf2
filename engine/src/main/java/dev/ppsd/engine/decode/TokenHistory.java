package dev.ppsd.engine.decode;

/**
 * The tokens before a position of one sequence, as a {@link LogitsRule} sees them: the prompt, the committed
 * tokens, then the drafts in flight before the position ({@code pending}, not yet verified). Position i is the i-th
 * token of the whole sequence; the prompt holds positions {@code [0, promptLength())}.
 */
public final class TokenHistory {
    private final Sequence seq;
    private final int committed;
    private final int[] pending;

    TokenHistory(Sequence seq, int[] pending) {
        this.seq = seq;
        this.committed = seq.totalLength();
        this.pending = pending;
    }

    /** Tokens in the history: the position whose logits the rule changes. */
    public int length() {
        return committed + pending.length;
    }

    /** Prompt tokens (as fed to the model). */
    public int promptLength() {
        return seq.promptIds().length;
    }

    /** Generated tokens in the history (committed and pending). */
    public int generatedLength() {
        return length() - promptLength();
    }

    /** The token at position {@code i} (prompt, committed or pending). */
    public int tokenAt(int i) {
        return i < committed ? seq.tokenAt(i) : pending[i - committed];
    }
}
