package dev.ppsd.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * GPT-2 style byte-level helpers shared by the trainer: the {@code bytes_to_unicode} byte-to-char
 * table and the GPT-2 pre-tokenization regex, identical to what the Hugging Face {@code ByteLevel}
 * pre-tokenizer (with {@code use_regex: true}) applies.
 */
public final class ByteLevel {

    /**
     * The GPT-2 split regex, as used by the Hugging Face {@code ByteLevel} pre-tokenizer. Compiled
     * with {@link Pattern#UNICODE_CHARACTER_CLASS} so that {@code \s} is Unicode-aware like Oniguruma's.
     */
    public static final String GPT2_SPLIT_REGEX =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    private static final Pattern SPLIT = Pattern.compile(GPT2_SPLIT_REGEX, Pattern.UNICODE_CHARACTER_CLASS);

    private static final char[] BYTE_TO_CHAR = buildByteToChar();

    private ByteLevel() {
    }

    private static char[] buildByteToChar() {
        char[] table = new char[256];
        boolean[] printable = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            printable[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            printable[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            printable[b] = true;
        }
        int n = 0;
        for (int b = 0; b < 256; b++) {
            if (printable[b]) {
                table[b] = (char) b;
            } else {
                table[b] = (char) (256 + n);
                n++;
            }
        }
        return table;
    }

    /** Returns the printable character GPT-2's {@code bytes_to_unicode} assigns to byte {@code b} (0..255). */
    public static char byteToChar(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /** Maps the UTF-8 bytes of {@code text} to their byte-level characters (one char per byte). */
    public static String toByteLevel(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(out);
    }

    /** Splits {@code text} into pre-tokens with the GPT-2 regex (no byte mapping applied). */
    public static List<String> split(String text) {
        List<String> pieces = new ArrayList<>();
        Matcher m = SPLIT.matcher(text);
        while (m.find()) {
            pieces.add(m.group());
        }
        return pieces;
    }

    /** Returns a fresh matcher of the GPT-2 split regex over {@code text}. */
    public static Matcher splitter(CharSequence text) {
        return SPLIT.matcher(text);
    }
}
