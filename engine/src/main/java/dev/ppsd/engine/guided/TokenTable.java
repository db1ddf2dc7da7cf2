package dev.ppsd.engine.guided;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.ppsd.engine.tokenizer.ByteLevel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The bytes every token id stands for in the decoded text, read from a model folder's {@code tokenizer.json}, and
 * the tokens sorted by their bytes (with the common-prefix length of neighbours) so that a mask is computed by one
 * walk that shares the work of common prefixes and skips every token below a dead prefix.
 *
 * <p>Vocabularies: <b>byte-level</b> (GPT-2, Llama 3, Qwen, the project's {@code ByteLevelBpe}: a {@code ByteLevel}
 * decoder) map each vocabulary string back through GPT-2's byte-to-unicode table ({@link ByteLevel}); a token may be
 * a part of a UTF-8 sequence. <b>SentencePiece-style</b> (a {@code Metaspace} decoder or one that replaces
 * {@code ▁} by a blank, e.g. Llama 2, Mistral): {@code ▁} is a blank, {@code <0xNN>} byte-fallback tokens are the
 * byte NN, and when the decoder drops the text's leading blank ({@code Strip} or {@code Metaspace}),
 * {@link #stripsLeadingSpace()} says so. Other decoders (WordPiece, ...) are refused with a message. Special tokens
 * (and ids beyond the tokenizer's vocabulary) have no bytes: they never match text. Added tokens that are not
 * special stand for their content.
 */
public final class TokenTable {
    private static final Pattern BYTE_FALLBACK = Pattern.compile("<0x([0-9A-Fa-f]{2})>");
    /** GPT-2's byte-to-unicode table read backwards: char -> byte, -1 for chars no byte maps to. */
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        Arrays.fill(CHAR_TO_BYTE, -1);
        for (int b = 0; b < 256; b++) {
            CHAR_TO_BYTE[ByteLevel.byteToChar(b)] = b;
        }
    }

    private final byte[][] bytes;
    private final boolean stripsLeadingSpace;
    private final int[] sorted;
    private final int[] lcp;

    private TokenTable(byte[][] bytes, boolean stripsLeadingSpace) {
        this.bytes = bytes;
        this.stripsLeadingSpace = stripsLeadingSpace;
        int n = 0;
        for (byte[] b : bytes) {
            if (b != null && b.length > 0) {
                n++;
            }
        }
        Integer[] order = new Integer[n];
        int k = 0;
        for (int id = 0; id < bytes.length; id++) {
            if (bytes[id] != null && bytes[id].length > 0) {
                order[k++] = id;
            }
        }
        Arrays.sort(order, Comparator.comparing((Integer id) -> bytes[id], Arrays::compareUnsigned));
        sorted = new int[n];
        lcp = new int[n];
        for (int i = 0; i < n; i++) {
            sorted[i] = order[i];
            if (i > 0) {
                byte[] a = bytes[order[i - 1]];
                byte[] b = bytes[order[i]];
                int m = Math.min(a.length, b.length);
                int j = 0;
                while (j < m && a[j] == b[j]) {
                    j++;
                }
                lcp[i] = j;
            }
        }
    }

    /** A table over explicit token bytes (null = a special token); for tests. */
    static TokenTable of(byte[][] bytes, boolean stripsLeadingSpace) {
        return new TokenTable(bytes.clone(), stripsLeadingSpace);
    }

    /**
     * Reads {@code tokenizer.json} for a model of {@code vocabSize} token ids. Throws IllegalArgumentException (the
     * reason a guided row fails) for a tokenizer whose tokens cannot be turned into bytes.
     */
    public static TokenTable load(Path tokenizerJson, int vocabSize) {
        JsonObject root;
        try {
            root = JsonParser.parseString(Files.readString(tokenizerJson, StandardCharsets.UTF_8)).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("guided decoding cannot read " + tokenizerJson + ": " + e.getMessage());
        }
        JsonObject model = root.getAsJsonObject("model");
        JsonElement decoder = root.get("decoder");
        String kind = decoderKind(decoder);
        byte[][] bytes = new byte[vocabSize][];
        boolean[] special = new boolean[vocabSize];
        JsonArray added = root.has("added_tokens") && root.get("added_tokens").isJsonArray()
                ? root.getAsJsonArray("added_tokens") : new JsonArray();
        for (JsonElement e : added) {
            JsonObject t = e.getAsJsonObject();
            int id = t.get("id").getAsInt();
            if (id >= 0 && id < vocabSize && t.has("special") && t.get("special").getAsBoolean()) {
                special[id] = true;
            }
        }
        String type = model.has("type") ? model.get("type").getAsString() : "";
        if (kind == null) {
            throw new IllegalArgumentException("guided decoding supports byte-level BPE tokenizers (GPT-2, Llama 3,"
                    + " Qwen) and SentencePiece-style ones (▁ and <0xNN> tokens); this tokenizer.json has decoder "
                    + (decoder == null || decoder.isJsonNull() ? "none" : describe(decoder)) + " and model " + type);
        }
        boolean byteLevel = kind.equals("bytelevel");
        if (type.equals("Unigram")) {
            JsonArray vocab = model.getAsJsonArray("vocab");
            for (int id = 0; id < vocab.size() && id < vocabSize; id++) {
                bytes[id] = pieceBytes(vocab.get(id).getAsJsonArray().get(0).getAsString(), byteLevel);
            }
        } else if (model.has("vocab") && model.get("vocab").isJsonObject()) {
            for (Map.Entry<String, JsonElement> v : model.getAsJsonObject("vocab").entrySet()) {
                int id = v.getValue().getAsInt();
                if (id >= 0 && id < vocabSize) {
                    bytes[id] = pieceBytes(v.getKey(), byteLevel);
                }
            }
        } else {
            throw new IllegalArgumentException("guided decoding: tokenizer.json model " + type + " has no vocabulary");
        }
        for (JsonElement e : added) {
            JsonObject t = e.getAsJsonObject();
            int id = t.get("id").getAsInt();
            if (id >= 0 && id < vocabSize && !special[id]) {
                bytes[id] = t.get("content").getAsString().getBytes(StandardCharsets.UTF_8); // added text, as is
            }
        }
        for (int id = 0; id < vocabSize; id++) {
            if (special[id]) {
                bytes[id] = null;
            }
        }
        return new TokenTable(bytes, kind.equals("sentencepiece-strip"));
    }

    /** bytelevel, sentencepiece, sentencepiece-strip (the decoder drops the text's leading blank), or null. */
    private static String decoderKind(JsonElement d) {
        if (d == null || !d.isJsonObject()) {
            return null;
        }
        List<JsonObject> parts = new java.util.ArrayList<>();
        JsonObject o = d.getAsJsonObject();
        String type = o.has("type") ? o.get("type").getAsString() : "";
        if (type.equals("Sequence")) {
            for (JsonElement e : o.getAsJsonArray("decoders")) {
                parts.add(e.getAsJsonObject());
            }
        } else {
            parts.add(o);
        }
        boolean byteLevel = false;
        boolean metaspace = false;
        boolean strip = false;
        for (JsonObject p : parts) {
            String t = p.get("type").getAsString();
            switch (t) {
                case "ByteLevel" -> byteLevel = true;
                case "Metaspace" -> {
                    metaspace = true;
                    String scheme = p.has("prepend_scheme") ? p.get("prepend_scheme").getAsString() : null;
                    boolean add = p.has("add_prefix_space") ? p.get("add_prefix_space").getAsBoolean()
                            : scheme == null || !scheme.equals("never");
                    strip |= scheme != null ? !scheme.equals("never") : add;
                }
                case "Replace" -> metaspace |= p.toString().contains("▁");
                case "Strip" -> strip |= p.has("content") && p.get("content").getAsString().equals(" ")
                        && p.has("start") && p.get("start").getAsInt() > 0;
                case "ByteFallback", "Fuse" -> {
                }
                default -> {
                    return null;
                }
            }
        }
        if (byteLevel && !metaspace) {
            return "bytelevel";
        }
        if (metaspace && !byteLevel) {
            return strip ? "sentencepiece-strip" : "sentencepiece";
        }
        return null;
    }

    private static String describe(JsonElement decoder) {
        JsonObject o = decoder.getAsJsonObject();
        if (o.has("decoders")) {
            StringBuilder b = new StringBuilder("Sequence[");
            for (JsonElement e : o.getAsJsonArray("decoders")) {
                b.append(b.length() > 9 ? ", " : "").append(e.getAsJsonObject().get("type").getAsString());
            }
            return b.append(']').toString();
        }
        return o.has("type") ? o.get("type").getAsString() : o.toString();
    }

    private static byte[] pieceBytes(String piece, boolean byteLevel) {
        if (byteLevel) {
            byte[] out = new byte[piece.length()];
            for (int i = 0; i < piece.length(); i++) {
                char c = piece.charAt(i);
                int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
                if (b < 0) {
                    return null; // not a byte-level string: a token we cannot read never matches
                }
                out[i] = (byte) b;
            }
            return out;
        }
        Matcher m = BYTE_FALLBACK.matcher(piece);
        if (m.matches()) {
            return new byte[] {(byte) Integer.parseInt(m.group(1), 16)};
        }
        return piece.replace('▁', ' ').getBytes(StandardCharsets.UTF_8);
    }

    /** Token ids covered (the model's vocabulary size). */
    public int size() {
        return bytes.length;
    }

    /** The bytes token {@code id} adds to the text, or null for a special token or an id without a token. */
    public byte[] bytes(int id) {
        return id >= 0 && id < bytes.length ? bytes[id] : null;
    }

    /** Whether the decoder drops one leading blank of the text (SentencePiece's {@code Strip} / {@code Metaspace}). */
    public boolean stripsLeadingSpace() {
        return stripsLeadingSpace;
    }

    /** Token ids with at least one byte, sorted by their bytes (unsigned, shorter first). */
    int[] sorted() {
        return sorted;
    }

    /** {@code lcp()[i]}: bytes shared by the tokens {@code sorted()[i - 1]} and {@code sorted()[i]} (0 for i = 0). */
    int[] lcp() {
        return lcp;
    }
}
