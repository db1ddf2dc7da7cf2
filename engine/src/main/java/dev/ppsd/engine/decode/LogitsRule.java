package dev.ppsd.engine.decode;

/**
 * A per-sequence rule that changes the next-token logits from the tokens before the position (a penalty, a mask
 * of tokens a constraint forbids, EOS held back until a minimum length). The same rule is applied, at the same
 * position with the same history, to the target's logits and to the drafter's, before any warping: the draft
 * distribution q and the target p change alike, so speculation stays lossless. A rule may keep state per position
 * (an automaton along the tokens): a flush replaces the tokens from some position on, which a rule sees as a
 * history that differs from what it saw before at that position.
 */
public interface LogitsRule {
    /** Changes {@code logits} (in place) for the position right after {@code history}. */
    void apply(float[] logits, TokenHistory history);
}
