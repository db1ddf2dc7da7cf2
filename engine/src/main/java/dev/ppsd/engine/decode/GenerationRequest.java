package dev.ppsd.engine.decode;

import dev.ppsd.engine.chat.ChatMessage;
import dev.ppsd.engine.settings.SamplingParams;

import java.util.List;

/**
 * One completion to make, with its id (echoed in the result) and its decoding settings: either a {@code prompt}
 * (text fed as is, the tokenizer's own special tokens such as BOS added) or chat {@code messages} (rendered by the
 * model's chat template with the generation prompt, as Hugging Face's {@code apply_chat_template} does).
 */
public record GenerationRequest(String id, String prompt, List<ChatMessage> messages, SamplingParams params) {
    public GenerationRequest {
        if ((prompt == null) == (messages == null)) {
            throw new IllegalArgumentException("request " + id + " needs a prompt or messages, not "
                    + (prompt == null ? "neither" : "both"));
        }
        if (params == null) {
            throw new IllegalArgumentException("params must not be null (request " + id + ")");
        }
        messages = messages == null ? null : List.copyOf(messages);
    }

    /** A request for the completion of {@code prompt}. */
    public GenerationRequest(String id, String prompt, SamplingParams params) {
        this(id, prompt, null, params);
    }

    /** A request for the assistant's reply to the chat {@code messages}. */
    public static GenerationRequest chat(String id, List<ChatMessage> messages, SamplingParams params) {
        return new GenerationRequest(id, null, messages, params);
    }

    /** The same request with other settings. */
    public GenerationRequest with(SamplingParams p) {
        return new GenerationRequest(id, prompt, messages, p);
    }
}
