package dev.ppsd.engine.guided;

import java.util.ArrayList;
import java.util.List;

/**
 * Translates a regular expression in the usual syntax (Java, Python, ECMAScript: what users write and what JSON
 * Schema's {@code pattern} holds) into the syntax of dk.brics {@code RegExp}, whose automaton the constraint runs.
 * Supported: literals and escapes ({@code \n \t \r \f \v \0 \xHH \}{@code uHHHH}, escaped punctuation), {@code .}
 * (any character but a newline), classes {@code [a-z_] [^"]} with {@code \d \w \s} inside, {@code \d \D \w \W \s \S},
 * groups {@code (..) (?:..) (?<name>..) (?P<name>..)}, alternation, the quantifiers {@code * + ? {n} {n,} {n,m}} and
 * their lazy forms (same language), and {@code ^} / {@code $} at the very start / end. Refused, with the reason and
 * position: lookaround, backreferences, word boundaries, inline flags, possessive quantifiers, Unicode property
 * classes, anchors elsewhere, characters beyond U+FFFF inside a class, quantifier bounds above {@link #MAX_REPEAT}.
 *
 * <p>Every literal is escaped in the output, so the output may be combined with the dk.brics operators
 * ({@code &} intersection) by {@link JsonSchemaRegex}. A character is one UTF-16 unit to the automaton: outside a
 * class a character beyond U+FFFF is kept together as a group of its two units.
 */
final class RegexSyntax {
    /** The translation, and whether the source was anchored at its start ({@code ^}) and end ({@code $}). */
    record Translated(String regex, boolean anchoredStart, boolean anchoredEnd) {
    }

    /** Largest bound of a quantifier (and of a schema's lengths and item counts): the automaton grows with it. */
    static final int MAX_REPEAT = 1000;
    static final String DIGIT = "0-9";
    static final String WORD = "0-9A-Za-z_";
    static final String SPACE = " \t\n\u000B\f\r";

    private final String src;
    private final String what;
    private int pos;
    private int end;

    private RegexSyntax(String src, String what) {
        this.src = src;
        this.what = what;
    }

    /**
     * Translates {@code regex}; {@code what} names it in errors ({@code guided_regex},
     * {@code guided_json: pattern at /properties/id}).
     */
    static Translated translate(String regex, String what) {
        RegexSyntax p = new RegexSyntax(regex, what);
        p.end = regex.length();
        boolean start = regex.startsWith("^");
        if (start) {
            p.pos = 1;
        }
        boolean endAnchor = false;
        if (p.end > p.pos && regex.charAt(p.end - 1) == '$' && !escaped(regex, p.end - 1)) {
            endAnchor = true;
            p.end--;
        }
        String out = p.alternation();
        if (p.pos < p.end) {
            throw p.error(p.src.charAt(p.pos) == ')' ? "unbalanced parenthesis ')'" : "unexpected '"
                    + p.src.charAt(p.pos) + "'");
        }
        return new Translated(out, start, endAnchor);
    }

    /** Whether the character at {@code i} is preceded by an odd number of backslashes. */
    private static boolean escaped(String s, int i) {
        int n = 0;
        for (int j = i - 1; j >= 0 && s.charAt(j) == '\\'; j--) {
            n++;
        }
        return n % 2 == 1;
    }

    /**
     * A dk.brics regex matching exactly {@code s}: quoted ({@code "..."}, one node however long: dk.brics parses a
     * run of single characters recursively, one level per character), a {@code "} of the text escaped between quotes.
     */
    static String literal(String s) {
        if (s.isEmpty()) {
            return "()";
        }
        StringBuilder b = new StringBuilder("(");
        int from = 0;
        for (int i = 0; i <= s.length(); i++) {
            if (i == s.length() || s.charAt(i) == '"') {
                if (i > from) {
                    b.append('"').append(s, from, i).append('"');
                }
                if (i < s.length()) {
                    b.append("\\\"");
                }
                from = i + 1;
            }
        }
        return b.append(')').toString();
    }

    /**
     * The union of {@code alternatives} (dk.brics regexes) as a balanced tree of groups: dk.brics parses a flat
     * {@code a|b|c|...} recursively, one level per alternative, so thousands of choices would overflow the stack.
     */
    static String union(List<String> alternatives) {
        if (alternatives.size() == 1) {
            return "(" + alternatives.get(0) + ")";
        }
        int mid = alternatives.size() / 2;
        return "(" + union(alternatives.subList(0, mid)) + "|" + union(alternatives.subList(mid, alternatives.size()))
                + ")";
    }

    /** One code point as a dk.brics atom (a group of two units beyond U+FFFF). */
    static String literal(int cp) {
        if (Character.isBmpCodePoint(cp)) {
            return escapeChar((char) cp);
        }
        return "(" + escapeChar(Character.highSurrogate(cp)) + escapeChar(Character.lowSurrogate(cp)) + ")";
    }

    static String escapeChar(char c) {
        return c < 128 && Character.isLetterOrDigit(c) ? String.valueOf(c) : "\\" + c;
    }

    /** A dk.brics class of the given ranges ({@code a-z} pairs and single characters), negated or not. */
    static String charClass(List<char[]> ranges, boolean negated) {
        StringBuilder b = new StringBuilder(negated ? "[^" : "[");
        for (char[] r : ranges) {
            b.append(escapeChar(r[0]));
            if (r[1] != r[0]) {
                b.append('-').append(escapeChar(r[1]));
            }
        }
        return b.append(']').toString();
    }

    /** The ranges of a class spelled like the inside of {@code [...]} without escapes ({@code 0-9A-Z_}). */
    static List<char[]> ranges(String spec) {
        List<char[]> out = new ArrayList<>();
        for (int i = 0; i < spec.length(); i++) {
            char a = spec.charAt(i);
            if (i + 2 < spec.length() && spec.charAt(i + 1) == '-') {
                out.add(new char[] {a, spec.charAt(i + 2)});
                i += 2;
            } else {
                out.add(new char[] {a, a});
            }
        }
        return out;
    }

    private IllegalArgumentException error(String message) {
        return new IllegalArgumentException(what + ": " + message + " at position " + pos + " of " + src);
    }

    private boolean more() {
        return pos < end;
    }

    private char peek() {
        return src.charAt(pos);
    }

    private String alternation() {
        List<String> branches = new ArrayList<>();
        branches.add(concatenation());
        while (more() && peek() == '|') {
            pos++;
            branches.add(concatenation());
        }
        return branches.size() == 1 ? branches.get(0) : "(" + String.join("|", branches) + ")";
    }

    private String concatenation() {
        StringBuilder b = new StringBuilder();
        StringBuilder run = new StringBuilder(); // plain characters with no quantifier: one quoted literal
        while (more() && peek() != '|' && peek() != ')') {
            int cp = src.codePointAt(pos);
            int next = pos + Character.charCount(cp);
            boolean quantified = next < end && "*+?{".indexOf(src.charAt(next)) >= 0;
            if (SPECIAL.indexOf(cp) < 0 && !quantified) {
                run.appendCodePoint(cp);
                pos = next;
                continue;
            }
            if (run.length() > 0) {
                b.append(literal(run.toString()));
                run.setLength(0);
            }
            b.append(repetition());
        }
        if (run.length() > 0) {
            b.append(literal(run.toString()));
        }
        return b.length() == 0 ? "()" : b.toString();
    }

    /** Characters with a meaning in the source syntax. */
    private static final String SPECIAL = "\\()[]{}.|*+?^$";

    private String repetition() {
        String atom = atom();
        while (more()) {
            char c = peek();
            String q;
            if (c == '*' || c == '+' || c == '?') {
                pos++;
                q = String.valueOf(c);
            } else if (c == '{' && quantifierAhead()) {
                int close = src.indexOf('}', pos);
                q = src.substring(pos, close + 1);
                String[] mm = q.substring(1, q.length() - 1).split(",", -1);
                if (mm.length == 2 && !mm[1].isEmpty() && Integer.parseInt(mm[1]) < Integer.parseInt(mm[0])) {
                    throw error("quantifier " + q + " has max < min");
                }
                for (String m : mm) {
                    if (!m.isEmpty() && Integer.parseInt(m) > MAX_REPEAT) {
                        throw error("quantifier " + q + " is above " + MAX_REPEAT);
                    }
                }
                pos = close + 1;
            } else {
                break;
            }
            if (more() && peek() == '?') {
                pos++; // lazy: the same language
            } else if (more() && peek() == '+') {
                throw error("possessive quantifiers are not supported");
            }
            atom = "(" + atom + ")" + q;
        }
        return atom;
    }

    /** Whether a {@code {n}}, {@code {n,}} or {@code {n,m}} quantifier starts here (else '{' is a literal). */
    private boolean quantifierAhead() {
        int close = src.indexOf('}', pos);
        return close > pos && close < end && src.substring(pos + 1, close).matches("\\d{1,6}(,\\d{0,6})?");
    }

    private String atom() {
        char c = peek();
        switch (c) {
            case '(' -> {
                return group();
            }
            case '[' -> {
                return bracketClass();
            }
            case '.' -> {
                pos++;
                return "[^\\\n]";
            }
            case '\\' -> {
                return escape();
            }
            case '^', '$' -> throw error("anchor " + c + " is only supported at the very start (^) or end ($)");
            case '*', '+', '?' -> throw error("nothing to repeat before '" + c + "'");
            default -> {
                int cp = src.codePointAt(pos);
                pos += Character.charCount(cp);
                return literal(cp);
            }
        }
    }

    private String group() {
        int open = pos;
        pos++;
        if (src.startsWith("?", pos)) {
            if (src.startsWith("?:", pos)) {
                pos += 2;
            } else if (src.startsWith("?P<", pos) || (src.startsWith("?<", pos) && !src.startsWith("?<=", pos)
                    && !src.startsWith("?<!", pos))) {
                int close = src.indexOf('>', pos);
                if (close < 0) {
                    throw error("unterminated group name");
                }
                pos = close + 1;
            } else if (src.startsWith("?=", pos) || src.startsWith("?!", pos) || src.startsWith("?<=", pos)
                    || src.startsWith("?<!", pos)) {
                pos = open;
                throw error("lookaround (?=, ?!, ?<=, ?<!) is not supported");
            } else {
                pos = open;
                throw error("inline flags and special groups (?...) are not supported");
            }
        }
        String inner = alternation();
        if (!more() || peek() != ')') {
            pos = open;
            throw error("unbalanced parenthesis '('");
        }
        pos++;
        return "(" + inner + ")";
    }

    private String escape() {
        if (pos + 1 >= end) {
            throw error("trailing backslash");
        }
        char e = src.charAt(pos + 1);
        switch (e) {
            case 'd' -> {
                pos += 2;
                return charClass(ranges(DIGIT), false);
            }
            case 'D' -> {
                pos += 2;
                return charClass(ranges(DIGIT), true);
            }
            case 'w' -> {
                pos += 2;
                return charClass(ranges(WORD), false);
            }
            case 'W' -> {
                pos += 2;
                return charClass(ranges(WORD), true);
            }
            case 's' -> {
                pos += 2;
                return charClass(ranges(SPACE), false);
            }
            case 'S' -> {
                pos += 2;
                return charClass(ranges(SPACE), true);
            }
            default -> {
                return literal(escapedChar());
            }
        }
    }

    /** The character of an escape other than a class escape ({@code \n}, {@code \x41}, {@code \.}); moves past it. */
    private int escapedChar() {
        char e = src.charAt(pos + 1);
        int at = pos;
        pos += 2;
        switch (e) {
            case 'n':
                return '\n';
            case 't':
                return '\t';
            case 'r':
                return '\r';
            case 'f':
                return '\f';
            case 'v':
                return 0x0B;
            case 'a':
                return 0x07;
            case 'e':
                return 0x1B;
            case '0':
                return 0;
            case 'x':
                return hex(2, at);
            case 'u':
                return hex(4, at);
            case 'b', 'B', 'A', 'Z', 'z', 'G':
                pos = at;
                throw error("\\" + e + " (a boundary or anchor) is not supported");
            case 'p', 'P':
                pos = at;
                throw error("Unicode property classes \\" + e + "{...} are not supported");
            case 'k':
                pos = at;
                throw error("backreferences are not supported");
            default:
                if (e >= '1' && e <= '9') {
                    pos = at;
                    throw error("backreferences are not supported");
                }
                if (Character.isLetterOrDigit(e)) {
                    pos = at;
                    throw error("unknown escape \\" + e);
                }
                int cp = src.codePointAt(at + 1);
                pos = at + 1 + Character.charCount(cp);
                return cp;
        }
    }

    private int hex(int digits, int at) {
        if (pos + digits > end || !src.substring(pos, pos + digits).matches("[0-9a-fA-F]+")) {
            pos = at;
            throw error("bad hexadecimal escape");
        }
        int v = Integer.parseInt(src.substring(pos, pos + digits), 16);
        pos += digits;
        return v;
    }

    private String bracketClass() {
        int open = pos;
        pos++;
        boolean negated = false;
        if (more() && peek() == '^') {
            negated = true;
            pos++;
        }
        List<char[]> ranges = new ArrayList<>();
        boolean first = true;
        while (true) {
            if (!more()) {
                pos = open;
                throw error("unterminated character class");
            }
            char c = peek();
            if (c == ']' && !first) {
                pos++;
                break;
            }
            first = false;
            if (c == '[' && pos + 1 < end && src.charAt(pos + 1) == ':') {
                throw error("POSIX classes [:...:] are not supported");
            }
            if (c == '\\' && pos + 1 < end && "dws".indexOf(src.charAt(pos + 1)) >= 0) {
                char e = src.charAt(pos + 1);
                ranges.addAll(ranges(e == 'd' ? DIGIT : e == 'w' ? WORD : SPACE));
                pos += 2;
                continue;
            }
            if (c == '\\' && pos + 1 < end && "DWS".indexOf(src.charAt(pos + 1)) >= 0) {
                throw error("negated class escapes (\\D, \\W, \\S) inside [...] are not supported");
            }
            int lo = classChar();
            int hi = lo;
            if (more() && peek() == '-' && pos + 1 < end && src.charAt(pos + 1) != ']') {
                pos++;
                hi = classChar();
                if (hi < lo) {
                    throw error("character range out of order");
                }
            }
            if (!Character.isBmpCodePoint(hi)) {
                throw error("characters beyond U+FFFF inside [...] are not supported");
            }
            ranges.add(new char[] {(char) lo, (char) hi});
        }
        if (ranges.isEmpty()) {
            throw error("empty character class");
        }
        return charClass(ranges, negated);
    }

    private int classChar() {
        if (peek() == '\\') {
            if (pos + 1 >= end) {
                throw error("trailing backslash");
            }
            char e = src.charAt(pos + 1);
            if (e == 'b') { // inside a class \b is a backspace
                pos += 2;
                return '\b';
            }
            return escapedChar();
        }
        int cp = src.codePointAt(pos);
        pos += Character.charCount(cp);
        return cp;
    }
}
