package dev.ppsd.engine.guided;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.util.HashSet;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Test oracle for {@code guided_json}: parses a text with Gson (strictly) and checks it against a schema of the
 * supported subset by walking both, independently of the automaton. Returns null when valid, else the reason.
 */
final class SchemaCheck {
    private SchemaCheck() {
    }

    static String check(String text, String schema) {
        JsonElement v;
        try {
            com.google.gson.stream.JsonReader r = new com.google.gson.stream.JsonReader(new java.io.StringReader(text));
            r.setStrictness(com.google.gson.Strictness.STRICT);
            v = JsonParser.parseReader(r);
            if (r.peek() != com.google.gson.stream.JsonToken.END_DOCUMENT) {
                return "text after the JSON value";
            }
        } catch (Exception e) {
            return "not JSON: " + e.getMessage();
        }
        return check(v, JsonParser.parseString(schema).getAsJsonObject(), "");
    }

    private static String check(JsonElement v, JsonObject s, String at) {
        if (s.has("enum")) {
            for (JsonElement e : s.getAsJsonArray("enum")) {
                if (e.equals(v)) {
                    return null;
                }
            }
            return at + ": " + v + " not in enum";
        }
        Set<String> types = new HashSet<>();
        if (s.get("type").isJsonArray()) {
            s.getAsJsonArray("type").forEach(t -> types.add(t.getAsString()));
        } else {
            types.add(s.get("type").getAsString());
        }
        String why = at + ": " + v + " is not " + types;
        if (v.isJsonNull()) {
            return types.contains("null") ? null : why;
        }
        if (v.isJsonPrimitive() && v.getAsJsonPrimitive().isBoolean()) {
            return types.contains("boolean") ? null : why;
        }
        if (v.isJsonPrimitive() && v.getAsJsonPrimitive().isNumber()) {
            boolean integral = v.getAsJsonPrimitive().getAsString().matches("-?\\d+");
            return types.contains("number") || types.contains("integer") && integral ? null : why;
        }
        if (v.isJsonPrimitive()) {
            if (!types.contains("string")) {
                return why;
            }
            String str = v.getAsString();
            if (s.has("minLength") && str.length() < s.get("minLength").getAsInt()
                    || s.has("maxLength") && str.length() > s.get("maxLength").getAsInt()) {
                return at + ": length of " + v;
            }
            if (s.has("pattern") && !Pattern.compile(s.get("pattern").getAsString()).matcher(str).find()) {
                return at + ": " + v + " does not match the pattern";
            }
            return null;
        }
        if (v.isJsonArray()) {
            if (!types.contains("array")) {
                return why;
            }
            int n = v.getAsJsonArray().size();
            if (s.has("minItems") && n < s.get("minItems").getAsInt() || s.has("maxItems") && n > s.get("maxItems")
                    .getAsInt()) {
                return at + ": " + n + " items";
            }
            for (int i = 0; i < n; i++) {
                String e = check(v.getAsJsonArray().get(i), s.getAsJsonObject("items"), at + "/" + i);
                if (e != null) {
                    return e;
                }
            }
            return null;
        }
        if (!types.contains("object")) {
            return why;
        }
        JsonObject o = v.getAsJsonObject();
        JsonObject props = s.getAsJsonObject("properties");
        for (String k : o.keySet()) {
            if (!props.has(k)) {
                return at + ": unexpected property " + k;
            }
            String e = check(o.get(k), props.getAsJsonObject(k), at + "/" + k);
            if (e != null) {
                return e;
            }
        }
        if (s.has("required")) {
            for (JsonElement r : s.getAsJsonArray("required")) {
                if (!o.has(r.getAsString())) {
                    return at + ": missing " + r.getAsString();
                }
            }
        }
        return null;
    }
}
