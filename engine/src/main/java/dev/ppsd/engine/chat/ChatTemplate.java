package dev.ppsd.engine.chat;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.ppsd.engine.checkpoint.ModelLoadException;
import dev.ppsd.engine.tokenizer.TextTokenizer;
import org.graalvm.polyglot.Value;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A model's chat template: turns a list of {@link ChatMessage}s into the prompt text the model was tuned on, as
 * Hugging Face's {@code apply_chat_template} does. The template is the model folder's {@code chat_template.jinja}
 * when there is one, else the {@code chat_template} of its {@code tokenizer_config.json} (a string, or a list of
 * {@code {name, template}} of which the one named {@code default} is used). It is rendered by the bundled
 * {@code @huggingface/jinja} (trim_blocks and lstrip_blocks on, as transformers renders) with the variables
 * transformers passes: {@code messages}, {@code add_generation_prompt}, {@code tools} and {@code documents} (none),
 * and the special tokens of {@code tokenizer_config.json} ({@code bos_token}, {@code eos_token}, ...).
 *
 * <pre>{@code
 * ChatTemplate chat = ChatTemplate.load(Path.of("models/Llama-3.1-8B-Instruct"));
 * int[] ids = chat.promptIds(tokenizer, List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hi")));
 * }</pre>
 *
 * <p>Thread-safe: renders of all templates share one JavaScript context and take turns (about a millisecond
 * each once warm; the first load of a JVM starts the context, about 3 s).
 */
public final class ChatTemplate {
    /** The special-token entries of {@code tokenizer_config.json} that transformers passes to a template. */
    private static final List<String> SPECIAL_TOKENS = List.of("bos_token", "eos_token", "unk_token", "sep_token",
            "pad_token", "cls_token", "mask_token");
    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().serializeNulls().create();

    private final Path file;
    private final String source;
    private final JsonObject specialTokens;
    private final Value parsed;

    private ChatTemplate(Path file, String source, JsonObject specialTokens) {
        this.file = file;
        this.source = source;
        this.specialTokens = specialTokens;
        try {
            this.parsed = JinjaRuntime.get().parse(source);
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException(file, "chat template does not parse: " + e.getMessage(), e);
        }
    }

    /** Whether {@code modelDir} has a chat template ({@code chat_template.jinja} or a {@code chat_template} entry). */
    public static boolean present(Path modelDir) {
        if (Files.isRegularFile(modelDir.resolve("chat_template.jinja"))) {
            return true;
        }
        Path config = modelDir.resolve("tokenizer_config.json");
        if (!Files.isRegularFile(config)) {
            return false;
        }
        JsonElement t = readConfig(config).get("chat_template");
        return t != null && !t.isJsonNull();
    }

    /**
     * Loads and parses the chat template of {@code modelDir}. A folder without one fails with an
     * {@link IllegalArgumentException} that says to send a prompt instead; an unreadable file or a template that
     * does not parse fails with a {@link ModelLoadException} naming the file.
     */
    public static ChatTemplate load(Path modelDir) {
        Path configFile = modelDir.resolve("tokenizer_config.json");
        JsonObject config = Files.isRegularFile(configFile) ? readConfig(configFile) : new JsonObject();
        JsonObject tokens = specialTokens(configFile, config);
        Path jinja = modelDir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            try {
                return new ChatTemplate(jinja, Files.readString(jinja), tokens);
            } catch (IOException e) {
                throw new ModelLoadException(jinja, "cannot read: " + e.getMessage(), e);
            }
        }
        JsonElement t = config.get("chat_template");
        if (t == null || t.isJsonNull()) {
            throw new IllegalArgumentException("the model has no chat template (tokenizer_config.json has no"
                    + " chat_template); send a prompt instead of messages");
        }
        return new ChatTemplate(configFile, templateSource(configFile, t), tokens);
    }

    /** {@code chat_template} is a string, or a list of {@code {name, template}} of which "default" is used. */
    private static String templateSource(Path file, JsonElement t) {
        if (t.isJsonPrimitive() && t.getAsJsonPrimitive().isString()) {
            return t.getAsString();
        }
        if (t.isJsonArray()) {
            StringBuilder names = new StringBuilder();
            for (JsonElement e : t.getAsJsonArray()) {
                if (e.isJsonObject() && e.getAsJsonObject().has("name")) {
                    String name = e.getAsJsonObject().get("name").getAsString();
                    JsonElement body = e.getAsJsonObject().get("template");
                    if (name.equals("default") && body != null && body.isJsonPrimitive()) {
                        return body.getAsString();
                    }
                    names.append(names.length() == 0 ? "" : ", ").append(name);
                }
            }
            throw new ModelLoadException(file, "chat_template has no template named \"default\" (it has: " + names
                    + ")");
        }
        throw new ModelLoadException(file, "chat_template must be a string or a list of {name, template} but was "
                + t);
    }

    /** The special tokens as template variables: AddedToken objects {@code {"content": ...}} become their text. */
    private static JsonObject specialTokens(Path file, JsonObject config) {
        JsonObject out = new JsonObject();
        for (String name : SPECIAL_TOKENS) {
            String text = tokenText(file, name, config.get(name));
            if (text != null) {
                out.addProperty(name, text);
            }
        }
        JsonElement extra = config.get("additional_special_tokens");
        if (extra != null && extra.isJsonArray()) {
            JsonArray list = new JsonArray();
            for (JsonElement e : extra.getAsJsonArray()) {
                String text = tokenText(file, "additional_special_tokens", e);
                if (text != null) {
                    list.add(text);
                }
            }
            out.add("additional_special_tokens", list);
        }
        return out;
    }

    private static String tokenText(Path file, String name, JsonElement v) {
        if (v == null || v.isJsonNull()) {
            return null;
        }
        if (v.isJsonPrimitive()) {
            return v.getAsString();
        }
        if (v.isJsonObject() && v.getAsJsonObject().has("content")) {
            return v.getAsJsonObject().get("content").getAsString();
        }
        throw new ModelLoadException(file, name + " must be a string or {\"content\": ...} but was " + v);
    }

    private static JsonObject readConfig(Path file) {
        try {
            JsonElement e = JsonParser.parseString(Files.readString(file));
            if (!e.isJsonObject()) {
                throw new ModelLoadException(file, "not a JSON object");
            }
            return e.getAsJsonObject();
        } catch (IOException | JsonParseException e) {
            throw new ModelLoadException(file, "cannot read: " + e.getMessage(), e);
        }
    }

    /**
     * The prompt text of {@code messages}; with {@code addGenerationPrompt} it ends with the header that opens the
     * assistant's reply. An empty list, or messages the template rejects with {@code raise_exception}, throw an
     * {@link IllegalArgumentException} (the latter with the template's own message).
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        if (messages == null) {
            throw new IllegalArgumentException("messages is null");
        }
        if (messages.isEmpty()) {
            throw new IllegalArgumentException("messages is empty");
        }
        JsonArray list = new JsonArray();
        for (ChatMessage m : messages) {
            if (m == null) {
                throw new IllegalArgumentException("messages has a null message");
            }
            JsonObject o = new JsonObject();
            o.addProperty("role", m.role());
            o.addProperty("content", m.content());
            list.add(o);
        }
        JsonObject items = specialTokens.deepCopy();
        items.add("messages", list);
        items.addProperty("add_generation_prompt", addGenerationPrompt);
        items.add("tools", JsonNull.INSTANCE);
        items.add("documents", JsonNull.INSTANCE);
        JinjaRuntime.Rendered r = JinjaRuntime.get().render(parsed, GSON.toJson(items));
        if (r.raised() != null) {
            throw new IllegalArgumentException(r.raised());
        }
        if (r.error() != null) {
            throw new IllegalArgumentException("the chat template of " + file + " failed: " + r.error());
        }
        return r.text();
    }

    /**
     * The token ids of {@code messages} rendered with {@code addGenerationPrompt}, encoded without adding special
     * tokens (the template writes its own BOS), as transformers' {@code apply_chat_template(tokenize=True)}.
     */
    public int[] encode(TextTokenizer tokenizer, List<ChatMessage> messages, boolean addGenerationPrompt) {
        return tokenizer.encode(render(messages, addGenerationPrompt), false);
    }

    /** The prompt ids of a chat to generate the assistant's next reply: {@link #encode} with the generation prompt. */
    public int[] promptIds(TextTokenizer tokenizer, List<ChatMessage> messages) {
        return encode(tokenizer, messages, true);
    }

    /** The template text. */
    public String source() {
        return source;
    }

    /** The file the template was read from. */
    public Path file() {
        return file;
    }

    @Override
    public String toString() {
        return "ChatTemplate(" + file + ")";
    }
}
