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
    /**
     * The drafter's states of these positions ({@link PipelineDrafter#stateDepths}: {@code states[i]} is the state
     * {@code [1, T, D]} at the i-th depth once a stage has computed it, else null); empty for drafters that keep none.
     */
    final NDArray[] states;
    /** Whether this entry ran in the current cycle (an entry waiting at stage 0 does not move on). */
    boolean ran;
    /** Whether a draft is made from this entry's stage-0 output (set when it enters stage 0). */
    boolean wantDraft;
    /** True while the token is an unverified draft. */
    boolean draft;
    /** Warped draft distribution (sampling only). */
    float[] q;
    /** The drafter's logits for the position after this entry (set in the cycle it runs stage 0), or null. */
    float[] draftLogits;
    /** The target's logits for the position after this entry (set when it leaves the last stage). */
    float[] logits;

    InFlight(Lane lane, int start, int[] tokens, boolean draft, float[] q) {
        this.lane = lane;
        this.start = start;
        this.tokens = tokens;
        this.draft = draft;
        this.q = q;
        this.states = new NDArray[lane.stateDepths];
    }

    /**
     * Whether this entry is a prefill: two or more prompt tokens (those not copied from the prefix cache). Its tokens
     * run as rows of the stage's decode batch ({@link dev.ppsd.engine.model.BatchRows}), or as a call of their own
     * when its prompt logprobs are wanted. A single token, a prompt's last one included, runs with the decode entries.
     */
    boolean isPrefill() {
        return tokens.length > 1;
    }

    /** First position after this entry. */
    int end() {
        return start + tokens.length;
    }

    /** Frees the hand-off state (the next stage has consumed it). */
    void release() {
        if (hidden != null) {
            hidden.close();
            hidden = null;
        }
    }

    /** Frees everything this entry holds (it is flushed, finished, or no longer needed by the drafter). */
    void discard() {
        release();
        for (int i = 0; i < states.length; i++) {
            if (states[i] != null) {
                states[i].close();
                states[i] = null;
            }
        }
    }
}
