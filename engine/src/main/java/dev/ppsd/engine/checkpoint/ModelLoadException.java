package dev.ppsd.engine.checkpoint;

import java.nio.file.Path;

/** A model folder could not be loaded; the message names the file and the problem. */
public final class ModelLoadException extends RuntimeException {
    public ModelLoadException(Path file, String problem) {
        super(file + ": " + problem);
    }

    public ModelLoadException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}
