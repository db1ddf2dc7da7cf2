package dev.ppsd.udf;

/**
 * The engine itself failed (a native error, out of memory, a bug), as opposed to one bad row. The engine has
 * been dropped from the executor's cache; the task fails and Spark's retry builds a fresh engine.
 */
public class PpsdEngineException extends RuntimeException {
    public PpsdEngineException(String message, Throwable cause) {
        super(message, cause);
    }
}
