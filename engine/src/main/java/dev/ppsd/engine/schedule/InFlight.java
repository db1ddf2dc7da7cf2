package dev.ppsd.engine.schedule;

import ai.djl.ndarray.NDArray;

/**
 * One in-flight entry of a sequence in the pipeline: tokens at positions {@code [start, start + T)} (a
 * prompt during prefill, else one token), the hidden state handed to the next stage, and for a draft its
 * draft distribution {@code q}. Older positions sit deeper in the pipeline.
 */
final class InFlight {
    final Lane lane;
    final int start;
    final int[] tokens;
    /** The stage that runs this entry next (k when it has left the last stage). */
    int stage;
    /** Hand-off state {@code [1, T, D]} on the device of the stage that produced it; null before stage 0. */
    NDArray hidden;
    /** Whether this entry ran in the current cycle (an entry waiting at stage 0 does not move on). */
    boolean ran;
    /** Whether a draft is made from this entry's stage-0 output (set when it enters stage 0). */
    boolean wantDraft;
    /** True while the token is an unverified draft. */
    boolean draft;
    /** Warped draft distribution (sampling only). */
    float[] q;
    /** Draft logits of the position after this entry (stage 0 output), or final logits (last stage output). */
    float[] logits;

    InFlight(Lane lane, int start, int[] tokens, boolean draft, float[] q) {
        this.lane = lane;
        this.start = start;
        this.tokens = tokens;
        this.draft = draft;
        this.q = q;
    }

    /** First position after this entry. */
    int end() {
        return start + tokens.length;
    }

    void release() {
        if (hidden != null) {
            hidden.close();
            hidden = null;
        }
    }
}
