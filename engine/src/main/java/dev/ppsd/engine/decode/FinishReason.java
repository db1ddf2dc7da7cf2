package dev.ppsd.engine.decode;

/** Why a sequence stopped: its EOS token, a stop string, or the token budget / context length. */
public enum FinishReason {
    EOS("eos"), STOP("stop"), LENGTH("length");

    private final String wire;

    FinishReason(String wire) {
        this.wire = wire;
    }

    /** The name used in JSON output and Spark columns. */
    public String wire() {
        return wire;
    }
}
