package dev.ppsd.engine.tokenizer;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GPT-2 style byte-level BPE tokenizer as data: special tokens (ids {@code 0..k-1}, the first one is the BOS the
 * post-processor prepends), the 256 byte tokens in byte order, then one token per merge; written as a Hugging Face
 * {@code tokenizer.json} that {@link TextTokenizer} loads. {@code BpeTrainer} (tools) learns the merges;
 * {@link #bytesOnly} is the merge-free tokenizer of the random test models.
 */
public final class ByteLevelBpe {

    private final List<String> specialTokens;
    private final List<String> merges;
    private final Map<String, Integer> vocab;

    public ByteLevelBpe(List<String> specialTokens, List<String> tokens, List<String> merges) {
        this.specialTokens = specialTokens;
        this.merges = List.copyOf(merges);
        Map<String, Integer> v = new LinkedHashMap<>();
        for (String s : specialTokens) {
            v.put(s, v.size());
        }
        for (String t : tokens) {
            v.put(t, v.size());
        }
        this.vocab = Collections.unmodifiableMap(v);
    }

    /** Number of tokens in the vocabulary (special + 256 byte tokens + merged tokens). */
    public int vocabSize() {
        return vocab.size();
    }

    /**
     * Returns the id of a vocabulary entry: a special token such as {@code "<s>"} as written, other
     * tokens in byte-level form (e.g. {@code "Ġthe"} for {@code " the"}, see {@link ByteLevel#toByteLevel}).
     *
     * @throws IllegalArgumentException if the token is not in the vocabulary
     */
    public int tokenId(String token) {
        Integer id = vocab.get(token);
        if (id == null) {
            throw new IllegalArgumentException("token '" + token + "' is not in the vocabulary");
        }
        return id;
    }

    /** The special tokens, in id order (ids 0..k-1). */
    public List<String> specialTokens() {
        return specialTokens;
    }

    /** The merges in priority order, each as {@code "left right"} in byte-level form. */
    public List<String> merges() {
        return merges;
    }

    /** The vocabulary (token in byte-level form to id), in id order. */
    public Map<String, Integer> vocab() {
        return vocab;
    }

    /** Renders the Hugging Face {@code tokenizer.json} (format version 1.0) of this tokenizer. */
    public String toTokenizerJson() {
        JsonObject root = new JsonObject();
        root.addProperty("version", "1.0");
        root.add("truncation", JsonNull.INSTANCE);
        root.add("padding", JsonNull.INSTANCE);

        JsonArray added = new JsonArray();
        for (int i = 0; i < specialTokens.size(); i++) {
            JsonObject t = new JsonObject();
            t.addProperty("id", i);
            t.addProperty("content", specialTokens.get(i));
            t.addProperty("single_word", false);
            t.addProperty("lstrip", false);
            t.addProperty("rstrip", false);
            t.addProperty("normalized", false);
            t.addProperty("special", true);
            added.add(t);
        }
        root.add("added_tokens", added);
        root.add("normalizer", JsonNull.INSTANCE);

        JsonObject pre = new JsonObject();
        pre.addProperty("type", "ByteLevel");
        pre.addProperty("add_prefix_space", false);
        pre.addProperty("trim_offsets", true);
        pre.addProperty("use_regex", true);
        root.add("pre_tokenizer", pre);

        if (specialTokens.isEmpty()) {
            root.add("post_processor", JsonNull.INSTANCE);
        } else {
            String bos = specialTokens.get(0);
            JsonObject post = new JsonObject();
            post.addProperty("type", "TemplateProcessing");
            JsonArray single = new JsonArray();
            single.add(specialPiece(bos));
            single.add(sequencePiece("A", 0));
            post.add("single", single);
            JsonArray pair = new JsonArray();
            pair.add(specialPiece(bos));
            pair.add(sequencePiece("A", 0));
            pair.add(specialPiece(bos));
            pair.add(sequencePiece("B", 1));
            post.add("pair", pair);
            JsonObject st = new JsonObject();
            JsonObject bosEntry = new JsonObject();
            bosEntry.addProperty("id", bos);
            JsonArray ids = new JsonArray();
            ids.add(0);
            bosEntry.add("ids", ids);
            JsonArray toks = new JsonArray();
            toks.add(bos);
            bosEntry.add("tokens", toks);
            st.add(bos, bosEntry);
            post.add("special_tokens", st);
            root.add("post_processor", post);
        }

        JsonObject dec = new JsonObject();
        dec.addProperty("type", "ByteLevel");
        dec.addProperty("add_prefix_space", true);
        dec.addProperty("trim_offsets", true);
        dec.addProperty("use_regex", true);
        root.add("decoder", dec);

        JsonObject model = new JsonObject();
        model.addProperty("type", "BPE");
        model.add("dropout", JsonNull.INSTANCE);
        model.add("unk_token", JsonNull.INSTANCE);
        model.add("continuing_subword_prefix", JsonNull.INSTANCE);
        model.add("end_of_word_suffix", JsonNull.INSTANCE);
        model.addProperty("fuse_unk", false);
        model.addProperty("byte_fallback", false);
        model.addProperty("ignore_merges", false);
        JsonObject v = new JsonObject();
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            v.addProperty(e.getKey(), e.getValue());
        }
        model.add("vocab", v);
        JsonArray m = new JsonArray();
        for (String merge : merges) {
            m.add(merge);
        }
        model.add("merges", m);
        root.add("model", model);

        return new GsonBuilder().disableHtmlEscaping().setPrettyPrinting().create().toJson(root);
    }

    private static JsonObject specialPiece(String id) {
        JsonObject inner = new JsonObject();
        inner.addProperty("id", id);
        inner.addProperty("type_id", 0);
        JsonObject o = new JsonObject();
        o.add("SpecialToken", inner);
        return o;
    }

    private static JsonObject sequencePiece(String id, int typeId) {
        JsonObject inner = new JsonObject();
        inner.addProperty("id", id);
        inner.addProperty("type_id", typeId);
        JsonObject o = new JsonObject();
        o.add("Sequence", inner);
        return o;
    }

    /** Writes {@link #toTokenizerJson()} to {@code file} (UTF-8), creating parent directories. */
    public void writeTokenizerJson(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(file, toTokenizerJson(), StandardCharsets.UTF_8);
    }

    /** The tokenizer without merges: the special tokens and the 256 byte tokens (one token per UTF-8 byte). */
    public static ByteLevelBpe bytesOnly(List<String> specialTokens) {
        List<String> bytes = new ArrayList<>(256);
        for (int b = 0; b < 256; b++) {
            bytes.add(String.valueOf(ByteLevel.byteToChar(b)));
        }
        return new ByteLevelBpe(specialTokens, bytes, List.of());
    }
}
