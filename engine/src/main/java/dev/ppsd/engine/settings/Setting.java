package dev.ppsd.engine.settings;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonParser;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Predicate;

/**
 * One row of the settings table ({@link Settings}): its name, value type, default, legal values, one-line doc and
 * scope. Every channel derives its spelling from the name: {@code max_new_tokens} is the per-row column, the SQL
 * option, the Spark param, the conf key {@code spark.ppsd.max_new_tokens} and the flag {@code --max-new-tokens}.
 * Values are parsed and checked here and nowhere else, so every channel reports a bad value with the same text:
 * {@code max_new_tokens must be >= 0 but was -3}.
 *
 * @param <T> the value type: {@link Integer}, {@link Long}, {@link Double}, {@link Boolean}, {@link String} or
 *            {@code List<String>}
 */
public final class Setting<T> {
    /** Who may give a value, and how often it may change. */
    public enum Scope {
        /** One value per engine: part of what makes two engines different (model, mode, stages, ...). */
        ENGINE,
        /** May differ from request to request (per row): the sampling and stopping rules. */
        REQUEST,
        /** Read by a front end only (which columns a Spark job reads and writes); the engine never sees it. */
        JOB
    }

    /** A value type: how text becomes a value, and how a value from a table cell is taken. */
    public static final class Kind<T> {
        public static final Kind<Integer> INT = new Kind<>("an integer", Integer.class);
        public static final Kind<Long> LONG = new Kind<>("an integer", Long.class);
        public static final Kind<Double> DOUBLE = new Kind<>("a number", Double.class);
        public static final Kind<Boolean> BOOLEAN = new Kind<>("true or false", Boolean.class);
        public static final Kind<String> STRING = new Kind<>("a string", String.class);
        @SuppressWarnings({"unchecked", "rawtypes"})
        public static final Kind<List<String>> STRINGS = new Kind<>("a list of strings", (Class) List.class);
        @SuppressWarnings({"unchecked", "rawtypes"})
        public static final Kind<List<Integer>> INTS = new Kind<>("a list of integers", (Class) List.class);

        private final String description;
        private final Class<T> type;

        private Kind(String description, Class<T> type) {
            this.description = description;
            this.type = type;
        }

        /** "an integer", "a number", ... */
        public String description() {
            return description;
        }

        /** The Java type of values. */
        public Class<T> type() {
            return type;
        }

        @Override
        public String toString() {
            return description;
        }
    }

    private final String name;
    private final Kind<T> kind;
    private final T defaultValue;
    private final Scope scope;
    private final String metavar;
    private final String legal;
    private final Predicate<T> rule;
    private final String doc;

    Setting(String name, Kind<T> kind, T defaultValue, Scope scope, String metavar, String legal, Predicate<T> rule,
            String doc) {
        this.name = name;
        this.kind = kind;
        this.scope = scope;
        this.metavar = metavar;
        this.legal = legal;
        this.rule = rule;
        this.doc = doc;
        // an empty list as the default means "none given"; a list that is given must satisfy the rule (guided_choice:
        // an empty list of choices is an error, not "no constraint")
        this.defaultValue = defaultValue == null ? null
                : defaultValue instanceof List<?> l && l.isEmpty() ? defaultValue : check(defaultValue);
    }

    /** The name: {@code max_new_tokens}. Also the per-row column, SQL option, Spark param and conf key suffix. */
    public String name() {
        return name;
    }

    /** The command-line flag: {@code --max-new-tokens}. */
    public String flag() {
        return "--" + name.replace('_', '-');
    }

    /** The Spark conf key: {@code spark.ppsd.max_new_tokens}. */
    public String confKey() {
        return Settings.CONF_PREFIX + name;
    }

    public Kind<T> kind() {
        return kind;
    }

    public Scope scope() {
        return scope;
    }

    /** The default, or null when the setting must be given (the model). */
    public T defaultValue() {
        return defaultValue;
    }

    /** What stands for a value in usage text: {@code N}, {@code T}, {@code DIR}. */
    public String metavar() {
        return metavar;
    }

    /** The legal values in words, as the error text says them: {@code >= 0}, {@code in (0, 1]}; null = any. */
    public String legal() {
        return legal;
    }

    /** The one-line doc. */
    public String doc() {
        return doc;
    }

    /** The doc with the legal values and the default, for help texts of every channel. */
    public String help() {
        StringBuilder s = new StringBuilder(doc);
        if (defaultValue != null) {
            s.append(" (default ").append(format(defaultValue)).append(')');
        } else {
            s.append(" (required)");
        }
        return s.toString();
    }

    /** A value as text, the way {@link #parse} reads it back: lists as a JSON array, others as is. */
    public String format(T value) {
        if (value instanceof List<?> l) {
            JsonArray a = new JsonArray();
            l.forEach(x -> {
                if (x instanceof Number n) {
                    a.add(n);
                } else {
                    a.add(String.valueOf(x));
                }
            });
            return a.toString();
        }
        return String.valueOf(value);
    }

    /**
     * Parses {@code text} into a checked value. Lists: a JSON array of strings, or one string. Throws
     * IllegalArgumentException naming the setting: {@code top_k must be an integer but was 'x'}.
     */
    @SuppressWarnings("unchecked")
    public T parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        String v = text.trim();
        Object out;
        try {
            if (kind == Kind.INT) {
                out = Integer.parseInt(v);
            } else if (kind == Kind.LONG) {
                out = Long.parseLong(v);
            } else if (kind == Kind.DOUBLE) {
                out = Double.parseDouble(v);
            } else if (kind == Kind.BOOLEAN) {
                if (!v.equalsIgnoreCase("true") && !v.equalsIgnoreCase("false")) {
                    throw new NumberFormatException();
                }
                out = Boolean.parseBoolean(v);
            } else if (kind == Kind.STRINGS) {
                out = parseList(text);
            } else if (kind == Kind.INTS) {
                out = parseInts(v);
            } else {
                out = text;
            }
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(name + " must be " + kind.description() + " but was '" + text + "'");
        }
        return check((T) out);
    }

    /**
     * Takes a value given as an object (a setter argument, a cell of a per-row column, a parsed JSON value):
     * integral numbers for integer settings (beyond the int range they keep their sign, so a huge negative budget
     * is still reported as negative), any number for number settings, a string or a list of strings for lists,
     * text for anything ({@link #parse}). Checked like {@link #parse}.
     */
    @SuppressWarnings("unchecked")
    public T coerce(Object value) {
        if (value == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        if (value instanceof String s && kind != Kind.STRING) {
            return parse(s);
        }
        Object out = value;
        if (kind == Kind.INT && isIntegral(value)) {
            long l = ((Number) value).longValue();
            out = (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, l));
        } else if (kind == Kind.LONG && isIntegral(value)) {
            out = ((Number) value).longValue();
        } else if (kind == Kind.DOUBLE && value instanceof Number n) {
            out = n.doubleValue();
        } else if (kind == Kind.STRINGS && value instanceof Iterable<?> it) {
            List<String> l = new ArrayList<>();
            for (Object x : it) {
                if (x == null) {
                    throw new IllegalArgumentException(name + " must not contain null");
                }
                l.add(x.toString());
            }
            out = l;
        } else if (kind == Kind.STRINGS && value instanceof String[] a) {
            out = List.of(a);
        } else if (kind == Kind.INTS && value instanceof int[] a) {
            out = java.util.Arrays.stream(a).boxed().toList();
        } else if (kind == Kind.INTS && value instanceof Iterable<?> it) {
            List<Integer> l = new ArrayList<>();
            for (Object x : it) {
                if (x instanceof String t) {
                    l.addAll(parse(t) instanceof List<?> p ? (List<Integer>) p : List.of());
                } else if (isIntegral(x)) {
                    l.add((int) ((Number) x).longValue());
                } else {
                    throw new IllegalArgumentException(name + " must be " + kind.description() + " but was " + value);
                }
            }
            out = l;
        } else if (!kind.type().isInstance(value)) {
            throw new IllegalArgumentException(name + " must be " + kind.description() + " but was " + value);
        }
        return check((T) out);
    }

    /** Checks {@code value} against the legal values; returns it (lists: an unmodifiable copy). */
    @SuppressWarnings("unchecked")
    public T check(T value) {
        if (value == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        if (!kind.type().isInstance(value)) {
            throw new IllegalArgumentException(name + " must be " + kind.description() + " but was " + value);
        }
        if (value instanceof List<?> l) {
            value = (T) List.copyOf(l);
        }
        if (rule != null && !rule.test(value)) {
            throw new IllegalArgumentException(name + " must be " + legal + " but was " + format(value));
        }
        return value;
    }

    private static boolean isIntegral(Object v) {
        return v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte;
    }

    /** {@code [1, 2]}, {@code 1, 2} or {@code 1}. */
    private static List<Integer> parseInts(String v) {
        String body = v.startsWith("[") && v.endsWith("]") ? v.substring(1, v.length() - 1) : v;
        List<Integer> out = new ArrayList<>();
        for (String part : body.split(",")) {
            if (!part.isBlank()) {
                out.add(Integer.parseInt(part.trim()));
            }
        }
        return out;
    }

    private List<String> parseList(String raw) {
        if (!raw.trim().startsWith("[")) {
            return raw.isEmpty() ? List.of() : List.of(raw);
        }
        JsonArray a = JsonParser.parseString(raw).getAsJsonArray();
        List<String> out = new ArrayList<>();
        for (JsonElement e : a) {
            out.add(e.getAsString());
        }
        return out;
    }

    @Override
    public String toString() {
        return name;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Setting<?> s && s.name.equals(name);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name);
    }
}
