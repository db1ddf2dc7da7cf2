package dev.ppsd.udf;

/** A bad row with {@code failOnError=true}: the message names the row, e.g. {@code row id=7: prompt is null}. */
public class PpsdRowException extends RuntimeException {
    public PpsdRowException(String message) {
        super(message);
    }
}
