package dev.ppsd.job;

/**
 * A reason the job stops that the user can act on, as one line ("prompt column 'text' not found in input;
 * columns: id, prompt"), with the process exit code: {@link #USAGE} for anything found before generation starts
 * (arguments, model, input, output), {@link #FAILED} when generation itself failed.
 */
public final class JobException extends RuntimeException {
    /** Bad arguments, model, input or output: found before any row is generated. */
    public static final int USAGE = 2;
    /** Generation failed part-way (a task failed, or a bad row with --fail-on-error). */
    public static final int FAILED = 1;

    private final int exitCode;

    JobException(int exitCode, String message) {
        super(message);
        this.exitCode = exitCode;
    }

    JobException(int exitCode, String message, Throwable cause) {
        super(message, cause);
        this.exitCode = exitCode;
    }

    /** A problem found before generation: exit code {@link #USAGE}. */
    static JobException usage(String message) {
        return new JobException(USAGE, message);
    }

    /** Generation failed: exit code {@link #FAILED}. */
    static JobException failed(String message, Throwable cause) {
        return new JobException(FAILED, message, cause);
    }

    /** The process exit code for this failure. */
    public int exitCode() {
        return exitCode;
    }
}
