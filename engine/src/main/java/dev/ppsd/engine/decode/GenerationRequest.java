package dev.ppsd.engine.decode;

import dev.ppsd.engine.settings.SamplingParams;

/** One prompt to complete, with its id (echoed in the result) and its decoding settings. */
public record GenerationRequest(String id, String prompt, SamplingParams params) {
    public GenerationRequest {
        if (prompt == null) {
            throw new IllegalArgumentException("prompt must not be null (request " + id + ")");
        }
        if (params == null) {
            throw new IllegalArgumentException("params must not be null (request " + id + ")");
        }
    }
}
