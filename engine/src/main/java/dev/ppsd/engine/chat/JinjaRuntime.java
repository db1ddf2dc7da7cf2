package dev.ppsd.engine.chat;

import org.graalvm.polyglot.Context;
import org.graalvm.polyglot.Engine;
import org.graalvm.polyglot.PolyglotException;
import org.graalvm.polyglot.Source;
import org.graalvm.polyglot.Value;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * The one JavaScript context of this JVM that runs the bundled {@code @huggingface/jinja} (the Jinja used by
 * transformers.js and the Hugging Face Hub) on GraalJS. A context runs one thread at a time, so every call holds
 * the lock; a render takes about a millisecond once warm. The context is sandboxed (no host access, no I/O): a
 * template sees only the JSON it is given.
 */
final class JinjaRuntime {
    /** The bundled {@code @huggingface/jinja} release; the test oracle installs the same one from npm. */
    static final String JINJA_VERSION = "0.5.13";
    private static final String LIBRARY = "huggingface-jinja-" + JINJA_VERSION + ".cjs";

    /**
     * Our glue around the library: {@code parse(source)} builds a Template, {@code render(template, json)} renders
     * it with the parsed JSON as the template's variables and returns {text}, {raised} (the template called
     * {@code raise_exception}) or {error}. The library declares {@code raise_exception} (throwing a plain Error)
     * among its globals with {@code Environment.set}; the glue swaps in one whose exception it can tell apart.
     */
    private static final String GLUE = """
            (function (jinja) {
              class Raised { constructor(message) { this.message = message; } }
              const raise = (message) => { throw new Raised(String(message)); };
              const set = jinja.Environment.prototype.set;
              jinja.Environment.prototype.set = function (name, value) {
                return set.call(this, name, name === "raise_exception" ? raise : value);
              };
              const messageOf = (e) => String(e && e.message !== undefined ? e.message : e);
              return {
                parse(source) {
                  try { return { template: new jinja.Template(source) }; } catch (e) { return { error: messageOf(e) }; }
                },
                render(template, json) {
                  try { return { text: template.render(JSON.parse(json)) }; }
                  catch (e) { return e instanceof Raised ? { raised: e.message } : { error: messageOf(e) }; }
                },
              };
            })""";

    private static JinjaRuntime instance;

    private final Context context;
    private final Value glue;
    private final Map<String, Value> parsed = new HashMap<>();

    private JinjaRuntime() {
        // Stock JDKs have no Graal compiler: templates run in Truffle's interpreter, which is fast enough here.
        Engine engine = Engine.newBuilder("js").option("engine.WarnInterpreterOnly", "false").build();
        context = Context.newBuilder("js").engine(engine).build();
        // the library is CommonJS: run it inside a function that supplies `module` and `exports`
        Value jinja = context.eval(Source.create("js",
                "(function (module, exports) {\n" + resource(LIBRARY) + "\n;return module.exports;\n})"
                        + "({ exports: {} }, {})"));
        glue = context.eval(Source.create("js", GLUE)).execute(jinja);
    }

    static synchronized JinjaRuntime get() {
        if (instance == null) {
            instance = new JinjaRuntime();
        }
        return instance;
    }

    /** Parses {@code source} (cached per source text); a syntax error throws with the parser's message. */
    synchronized Value parse(String source) {
        Value t = parsed.get(source);
        if (t == null) {
            Value r = glue.invokeMember("parse", source);
            if (r.hasMember("error")) {
                throw new IllegalArgumentException(r.getMember("error").asString());
            }
            t = r.getMember("template");
            parsed.put(source, t);
        }
        return t;
    }

    /** The outcome of one render: exactly one of the three is non-null. */
    record Rendered(String text, String raised, String error) {
    }

    /** Renders a parsed template with the variables in {@code json} (a JSON object). */
    synchronized Rendered render(Value template, String json) {
        try {
            Value r = glue.invokeMember("render", template, json);
            return new Rendered(member(r, "text"), member(r, "raised"), member(r, "error"));
        } catch (PolyglotException e) {
            return new Rendered(null, null, e.getMessage());
        }
    }

    private static String member(Value v, String name) {
        return v.hasMember(name) ? v.getMember(name).asString() : null;
    }

    private static String resource(String name) {
        try (InputStream in = JinjaRuntime.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("resource " + name + " is missing from the ppsd-engine jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
