package dev.ppsd.engine.chat;

/**
 * One turn of a chat: a {@code role} ({@code system}, {@code user}, {@code assistant}, or whatever else the model's
 * chat template accepts) and its text. The template decides which roles are legal; an empty content is allowed.
 */
public record ChatMessage(String role, String content) {
    public ChatMessage {
        if (role == null) {
            throw new IllegalArgumentException("ChatMessage role is null");
        }
        if (content == null) {
            throw new IllegalArgumentException("ChatMessage content is null");
        }
    }

    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }
}
