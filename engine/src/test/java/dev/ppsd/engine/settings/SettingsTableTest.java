package dev.ppsd.engine.settings;

import dev.ppsd.engine.settings.Setting.Kind;
import dev.ppsd.engine.settings.Setting.Scope;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The settings table itself: names, derived spellings, defaults that pass their own checks, and the README. */
class SettingsTableTest {
    @Test
    void everyRowIsNamedOnceInSnakeCaseWithALegalDefault() {
        Set<String> names = new HashSet<>();
        for (Setting<?> s : Settings.all()) {
            assertTrue(s.name().matches("[a-z][a-z0-9_]*"), s.name());
            assertTrue(names.add(s.name()), "named twice: " + s.name());
            assertEquals("--" + s.name().replace('_', '-'), s.flag());
            assertEquals("spark.ppsd." + s.name(), s.confKey());
            assertTrue(s.doc().length() > 10 && !s.doc().endsWith("."), s.name() + ": a one-line doc: " + s.doc());
            if (s.defaultValue() instanceof List<?> l && l.isEmpty()) {
                // an empty list default means "none given"; a list that is given is held to the rule
                assertTrue(s.legal().contains("at least one") || readBack(s).equals(l), s.name() + ": " + s.legal());
            } else if (s.defaultValue() != null) {
                assertEquals(s.defaultValue(), readBack(s), s.name() + ": the default reads back");
            }
        }
        assertEquals(Settings.all().size(), Settings.of(Scope.ENGINE).size() + Settings.of(Scope.REQUEST).size());
    }

    private static <T> T readBack(Setting<T> s) {
        return s.parse(s.format(s.defaultValue()));
    }

    @Test
    void valuesAreCheckedOnceWhereverTheyComeFrom() {
        Setting<Integer> n = Settings.MAX_NEW_TOKENS;
        String want = "max_new_tokens must be >= 0 but was -3";
        assertEquals(want, assertThrows(IllegalArgumentException.class, () -> n.parse("-3")).getMessage());
        assertEquals(want, assertThrows(IllegalArgumentException.class, () -> n.coerce(-3L)).getMessage());
        assertEquals(want, assertThrows(IllegalArgumentException.class,
                () -> SamplingParams.defaults().with(n, -3)).getMessage());
        assertEquals("guided_choice must be at least one string, none empty but was []", assertThrows(
                IllegalArgumentException.class, () -> Settings.GUIDED_CHOICE.parse("[]")).getMessage());
        // beyond the int range a value keeps its sign
        assertEquals(Integer.MAX_VALUE, n.coerce(1L << 40));
        assertEquals("max_new_tokens must be >= 0 but was -2147483648",
                assertThrows(IllegalArgumentException.class, () -> n.coerce(-(1L << 40))).getMessage());
        assertEquals("top_k must be an integer but was 'x'",
                assertThrows(IllegalArgumentException.class, () -> Settings.TOP_K.parse("x")).getMessage());
        assertEquals(List.of("a", "b"), Settings.STOP.parse("[\"a\", \"b\"]"));
        assertEquals(List.of("END"), Settings.STOP.parse("END"));
        assertEquals(Kind.STRINGS, Settings.STOP.kind());
    }

    @Test
    void valuesOfOneScopeOnly() {
        assertEquals("mode is an engine setting, not a request one", assertThrows(IllegalArgumentException.class,
                () -> SamplingParams.defaults().with(Settings.MODE, "ppsd")).getMessage());
        // equal values, equal options (an executor's engines are keyed by them), whatever was given explicitly
        assertEquals(EngineOptions.defaults(), EngineOptions.defaults().with(Settings.BATCH_SIZE, 8));
        assertNotEquals(EngineOptions.defaults(), EngineOptions.defaults().with(Settings.BATCH_SIZE, 9));
    }
}
