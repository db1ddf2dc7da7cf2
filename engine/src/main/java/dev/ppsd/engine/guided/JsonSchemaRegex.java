package dev.ppsd.engine.guided;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The schema-to-regex step of {@code guided_json}: a JSON Schema (the subset below) becomes one dk.brics regular
 * expression (see {@link RegexSyntax}) of the JSON texts valid under it, with bounded whitespace: at most
 * {@link #MAX_WS} blanks ({@code [ \t\n\r]}) wherever JSON allows them, so a model cannot spend its budget on
 * whitespace. Objects are written with their properties in the schema's order (every required one, each optional
 * one present or not), with no other properties.
 *
 * <p>The subset: {@code type} (one type or a list) {@code object} with {@code properties}, {@code required} and
 * {@code additionalProperties: false}; {@code string} with {@code enum}, {@code pattern} (unanchored, as JSON Schema
 * reads it; the characters it matches are written unescaped, so it cannot admit {@code "}, {@code \} or control
 * characters), {@code minLength} / {@code maxLength} (in UTF-16 units; an escape such as {@code \n} counts as one);
 * {@code integer} (up to {@link #MAX_DIGITS} digits), {@code number} (idem, with fraction and exponent),
 * {@code boolean}, {@code null}; {@code array} with {@code items}, {@code minItems} / {@code maxItems}; {@code enum}
 * of any JSON values. Annotations ({@code title}, {@code description}, {@code default}, {@code examples},
 * {@code $schema}, {@code $id}, {@code $comment}) are ignored. Any other keyword is refused with a message naming it
 * and where it is: {@code guided_json: unsupported keyword 'minimum' at /properties/age}.
 */
final class JsonSchemaRegex {
    /** Most blanks accepted between two JSON tokens. */
    static final int MAX_WS = 2;
    /** Most digits of an integer, of a number's integer part and of its fraction. */
    static final int MAX_DIGITS = 16;
    /** Deepest nesting of objects and arrays. */
    static final int MAX_DEPTH = 16;

    private static final String WHAT = "guided_json";
    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();
    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "default", "examples", "$schema",
            "$id", "$comment");
    private static final Map<String, Set<String>> KEYWORDS = Map.of(
            "string", Set.of("pattern", "minLength", "maxLength"),
            "integer", Set.of(),
            "number", Set.of(),
            "boolean", Set.of(),
            "null", Set.of(),
            "array", Set.of("items", "minItems", "maxItems"),
            "object", Set.of("properties", "required", "additionalProperties"));

    /** Blanks between JSON tokens: {@code [ \t\n\r]{0,MAX_WS}}. */
    static final String WS = RegexSyntax.charClass(RegexSyntax.ranges(" \t\n\r"), false) + "{0," + MAX_WS + "}";
    /** One character written as is inside a JSON string: not {@code "}, not {@code \}, not a control character. */
    private static final String RAW_CHAR = RegexSyntax.charClass(List.of(new char[] {'"', '"'},
            new char[] {'\\', '\\'}, new char[] {0, 0x1f}), true);
    /** One character of a JSON string as written: a raw one or an escape ({@code \n}, {@code \"}, {@code \}{@code u00e9}). */
    static final String STRING_CHAR = "(" + RAW_CHAR + "|\\\\([\\\"\\\\/bfnrt]|u[0-9a-fA-F]{4}))";
    private static final String INT = "(0|[1-9][0-9]{0," + (MAX_DIGITS - 1) + "})";

    private JsonSchemaRegex() {
    }

    /** The regex of the JSON texts valid under {@code schema} (JSON text); errors name the keyword and place. */
    static String toRegex(String schema) {
        JsonElement e;
        try {
            e = JsonParser.parseString(schema);
        } catch (RuntimeException ex) {
            throw new IllegalArgumentException(WHAT + ": not JSON: " + ex.getMessage());
        }
        if (!e.isJsonObject()) {
            throw new IllegalArgumentException(WHAT + ": a schema must be a JSON object");
        }
        return WS + value(e.getAsJsonObject(), "", 0) + WS;
    }

    private static IllegalArgumentException error(String path, String message) {
        return new IllegalArgumentException(WHAT + ": " + message + " at " + (path.isEmpty() ? "/" : path));
    }

    private static String value(JsonObject s, String path, int depth) {
        if (depth > MAX_DEPTH) {
            throw error(path, "nesting deeper than " + MAX_DEPTH);
        }
        List<String> types = types(s, path);
        Set<String> allowed = new LinkedHashSet<>(ANNOTATIONS);
        allowed.add("type");
        allowed.add("enum");
        for (String t : types) {
            allowed.addAll(KEYWORDS.get(t));
        }
        for (String k : s.keySet()) {
            if (!allowed.contains(k)) {
                boolean known = KEYWORDS.values().stream().anyMatch(v -> v.contains(k));
                throw error(path, known ? "keyword '" + k + "' does not apply to type " + String.join(" or ", types)
                        : "unsupported keyword '" + k + "'");
            }
        }
        if (s.has("enum")) {
            return enumeration(s.get("enum"), path);
        }
        if (types.isEmpty()) {
            throw error(path, "a schema needs 'type' or 'enum'");
        }
        List<String> alts = new ArrayList<>();
        for (String t : types) {
            alts.add(switch (t) {
                case "string" -> string(s, path);
                case "integer" -> "\\-?" + INT;
                case "number" -> "\\-?" + INT + "(\\.[0-9]{1," + MAX_DIGITS + "})?([eE][\\+\\-]?[0-9]{1,3})?";
                case "boolean" -> "(true|false)";
                case "null" -> "null";
                case "array" -> array(s, path, depth);
                case "object" -> object(s, path, depth);
                default -> throw new IllegalStateException(t);
            });
        }
        return alts.size() == 1 ? alts.get(0) : "(" + String.join("|", alts) + ")";
    }

    private static List<String> types(JsonObject s, String path) {
        List<String> out = new ArrayList<>();
        JsonElement t = s.get("type");
        if (t == null) {
            return out;
        }
        List<JsonElement> list = new ArrayList<>();
        if (t.isJsonArray()) {
            t.getAsJsonArray().forEach(list::add);
        } else {
            list.add(t);
        }
        for (JsonElement x : list) {
            String name = x.isJsonPrimitive() && x.getAsJsonPrimitive().isString() ? x.getAsString() : null;
            if (name == null || !KEYWORDS.containsKey(name)) {
                throw error(path, "unsupported type " + x);
            }
            if (!out.contains(name)) {
                out.add(name);
            }
        }
        if (out.isEmpty()) {
            throw error(path, "'type' is an empty list");
        }
        return out;
    }

    private static String enumeration(JsonElement values, String path) {
        if (!values.isJsonArray() || values.getAsJsonArray().isEmpty()) {
            throw error(path, "'enum' must be a non-empty array");
        }
        Set<String> alts = new LinkedHashSet<>();
        for (JsonElement v : values.getAsJsonArray()) {
            alts.add(RegexSyntax.literal(GSON.toJson(v)));
        }
        return RegexSyntax.union(new ArrayList<>(alts));
    }

    private static String string(JsonObject s, String path) {
        int min = count(s, "minLength", 0, path);
        int max = count(s, "maxLength", -1, path);
        if (max >= 0 && max < min) {
            throw error(path, "maxLength < minLength");
        }
        String range = "{" + min + "," + (max >= 0 ? String.valueOf(max) : "") + "}";
        if (!s.has("pattern")) {
            return "\\\"" + "(" + STRING_CHAR + ")" + range + "\\\"";
        }
        JsonElement p = s.get("pattern");
        if (!p.isJsonPrimitive() || !p.getAsJsonPrimitive().isString()) {
            throw error(path, "'pattern' must be a string");
        }
        RegexSyntax.Translated t = RegexSyntax.translate(p.getAsString(), WHAT + ": pattern at "
                + (path.isEmpty() ? "/" : path));
        String any = "(" + RAW_CHAR + ")*";
        String pattern = (t.anchoredStart() ? "" : any) + "(" + t.regex() + ")" + (t.anchoredEnd() ? "" : any);
        return "\\\"(" + "(" + pattern + ")&((" + RAW_CHAR + ")" + range + "))\\\"";
    }

    private static String array(JsonObject s, String path, int depth) {
        JsonElement items = s.get("items");
        if (items == null || !items.isJsonObject()) {
            throw error(path, "an array needs 'items' (one schema)");
        }
        int min = count(s, "minItems", 0, path);
        int max = count(s, "maxItems", -1, path);
        if (max >= 0 && max < min) {
            throw error(path, "maxItems < minItems");
        }
        String item = value(items.getAsJsonObject(), path + "/items", depth + 1);
        String open = "\\[" + WS;
        String close = WS + "\\]";
        if (max == 0) {
            return open + close;
        }
        String more = "(" + WS + "\\," + WS + item + ")";
        String rest = more + "{" + Math.max(0, min - 1) + "," + (max >= 0 ? String.valueOf(max - 1) : "") + "}";
        String list = item + rest;
        return open + (min == 0 ? "(" + list + ")?" : list) + close;
    }

    private static String object(JsonObject s, String path, int depth) {
        JsonElement extra = s.get("additionalProperties");
        if (extra != null && !(extra.isJsonPrimitive() && extra.getAsJsonPrimitive().isBoolean()
                && !extra.getAsBoolean())) {
            throw error(path, "only 'additionalProperties': false is supported (the object has exactly the listed"
                    + " properties)");
        }
        JsonElement props = s.get("properties");
        if (props == null || !props.isJsonObject()) {
            throw error(path, "an object needs 'properties'");
        }
        Set<String> required = new LinkedHashSet<>();
        JsonElement req = s.get("required");
        if (req != null) {
            if (!req.isJsonArray()) {
                throw error(path, "'required' must be an array of property names");
            }
            for (JsonElement r : req.getAsJsonArray()) {
                String name = r.getAsString();
                if (!props.getAsJsonObject().has(name)) {
                    throw error(path, "required property '" + name + "' is not in 'properties'");
                }
                required.add(name);
            }
        }
        Map<String, String> members = new LinkedHashMap<>(); // name -> "name": value, in the schema's order
        for (Map.Entry<String, JsonElement> p : props.getAsJsonObject().entrySet()) {
            if (!p.getValue().isJsonObject()) {
                throw error(path + "/properties/" + p.getKey(), "a property's schema must be an object");
            }
            String v = value(p.getValue().getAsJsonObject(), path + "/properties/" + p.getKey(), depth + 1);
            members.put(p.getKey(), RegexSyntax.literal(GSON.toJson(p.getKey())) + WS + "\\:" + WS + v);
        }
        List<String> names = new ArrayList<>(members.keySet());
        List<String> item = new ArrayList<>();
        List<Boolean> optional = new ArrayList<>();
        for (String n : names) {
            item.add(members.get(n));
            optional.add(!required.contains(n));
        }
        return "\\{" + WS + members(item, optional, 0, true) + WS + "\\}";
    }

    /**
     * The members from index {@code i} on: {@code first} when none was written yet (no comma before the next).
     * Size O(n^2) in the number of properties: {@code rest(i, false)} is linear, and {@code rest(i, true)} refers to
     * one {@code rest(j, false)} per optional property it may skip.
     */
    private static String members(List<String> item, List<Boolean> optional, int i, boolean first) {
        if (i == item.size()) {
            return "";
        }
        String lead = first ? "" : WS + "\\," + WS;
        String with = lead + item.get(i) + members(item, optional, i + 1, false);
        if (!optional.get(i)) {
            return with;
        }
        if (!first) {
            return "(" + lead + item.get(i) + ")?" + members(item, optional, i + 1, false);
        }
        String without = members(item, optional, i + 1, true);
        return "((" + with + ")|(" + (without.isEmpty() ? "()" : without) + "))";
    }

    private static int count(JsonObject s, String key, int dflt, String path) {
        JsonElement e = s.get(key);
        if (e == null) {
            return dflt;
        }
        try {
            long v = e.getAsLong();
            if (v < 0 || v != e.getAsDouble() || v > RegexSyntax.MAX_REPEAT) {
                throw new NumberFormatException();
            }
            return (int) v;
        } catch (RuntimeException ex) {
            throw error(path, "'" + key + "' must be an integer in [0, " + RegexSyntax.MAX_REPEAT + "] but was " + e);
        }
    }
}
