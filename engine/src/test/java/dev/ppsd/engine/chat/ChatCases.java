package dev.ppsd.engine.chat;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The message lists that chat tests render in Java and in the oracle, by name. */
final class ChatCases {
    private ChatCases() {
    }

    private static final ChatMessage SYSTEM = ChatMessage.system("You are a helpful assistant.");

    static final Map<String, List<ChatMessage>> LISTS = new LinkedHashMap<>();

    static {
        LISTS.put("system + user", List.of(SYSTEM, ChatMessage.user("What is 2+2?")));
        LISTS.put("user only", List.of(ChatMessage.user("Hello")));
        LISTS.put("multi-turn", List.of(SYSTEM, ChatMessage.user("Hi"), ChatMessage.assistant("Hello! How can I help?"),
                ChatMessage.user("Tell me a joke.")));
        LISTS.put("multi-turn, no system", List.of(ChatMessage.user("Hi"), ChatMessage.assistant("Hello!"),
                ChatMessage.user("Bye")));
        LISTS.put("unicode", List.of(SYSTEM, ChatMessage.user("héllo wörld — 你好，世界 👋🏽 e\u0301 naïve"),
                ChatMessage.assistant("Grüße 🙂"), ChatMessage.user("日本語で？")));
        LISTS.put("empty content", List.of(SYSTEM, ChatMessage.user("")));
        LISTS.put("empty system", List.of(ChatMessage.system(""), ChatMessage.user("x")));
        LISTS.put("spaces and newlines", List.of(ChatMessage.user("  leading and trailing  \n\n"),
                ChatMessage.assistant("\n ok \n")));
        LISTS.put("reasoning in an earlier reply", List.of(ChatMessage.user("q1"),
                ChatMessage.assistant("<think>\nreasoning\n</think>\n\nanswer1"), ChatMessage.user("q2")));
        LISTS.put("assistant last", List.of(ChatMessage.user("q"), ChatMessage.assistant("<think>r</think>a")));
        LISTS.put("second system", List.of(SYSTEM, ChatMessage.user("a"), ChatMessage.system("late system"),
                ChatMessage.user("b")));
        LISTS.put("template syntax in content", List.of(ChatMessage.user("{{ not a tag }} {% if %} {# c #}")));
        LISTS.put("tool replies", List.of(ChatMessage.user("weather?"), new ChatMessage("tool", "sunny"),
                new ChatMessage("tool", "20C")));
    }

    /** {@code messages} as the oracle takes them: a JSON list of {role, content}. */
    static String json(List<ChatMessage> messages) {
        JsonArray a = new JsonArray();
        for (ChatMessage m : messages) {
            JsonObject o = new JsonObject();
            o.addProperty("role", m.role());
            o.addProperty("content", m.content());
            a.add(o);
        }
        return a.toString();
    }
}
