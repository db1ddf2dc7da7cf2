package dev.ppsd.engine.settings;

import dev.ppsd.engine.settings.Setting.Scope;

import java.io.Serializable;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * Checked values of the settings of one scope, each setting's default where none was given; immutable and
 * serializable (values are numbers, booleans, strings and lists of strings, keyed by setting name), so a Spark task
 * carries them. Two value sets are equal when every value is: {@link EngineOptions} are the key of an executor's
 * engine. Subclasses name the scope: {@link EngineOptions}, {@link SamplingParams}, a front end's own options.
 *
 * @param <V> the subclass, which every {@code with} returns
 */
public abstract class SettingValues<V extends SettingValues<V>> implements Serializable {
    private static final long serialVersionUID = 1L;

    private final Map<String, Object> values; // the values that differ from their default

    protected SettingValues(Map<String, Object> values) {
        this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }

    /** The scope of the settings these values are for. */
    protected abstract Scope scope();

    /** The same kind of value set over {@code values}. */
    protected abstract V make(Map<String, Object> values);

    /** The value of {@code s}: the given one, else its default (null only for a required setting not given). */
    @SuppressWarnings("unchecked")
    public final <T> T get(Setting<T> s) {
        requireScope(s);
        Object v = values.get(s.name());
        return v != null ? (T) v : s.defaultValue();
    }

    /** A copy with {@code value} for {@code s}, checked ({@link Setting#check}). */
    public final <T> V with(Setting<T> s, T value) {
        requireScope(s);
        T checked = s.check(value);
        Map<String, Object> m = new LinkedHashMap<>(values);
        if (checked.equals(s.defaultValue())) {
            m.remove(s.name()); // only values that differ from the default are kept: equal values, equal objects
        } else {
            m.put(s.name(), checked);
        }
        return make(m);
    }

    /** A copy with {@code value} taken as {@link Setting#coerce} takes it (text, numbers of any width, arrays). */
    public final <T> V withValue(Setting<T> s, Object value) {
        return with(s, s.coerce(value));
    }

    /** A copy in which every setting of {@code table} in this scope that {@code given} has a value for takes it. */
    @SuppressWarnings("unchecked")
    public final V withAll(List<Setting<?>> table, Function<Setting<?>, Object> given) {
        V out = (V) this;
        for (Setting<?> s : table) {
            if (s.scope() == scope()) {
                Object v = given.apply(s);
                if (v != null) {
                    out = out.withValue(s, v);
                }
            }
        }
        return out;
    }

    /** The values that differ from their default, by name. */
    public final Map<String, Object> changed() {
        return values;
    }

    private void requireScope(Setting<?> s) {
        if (s.scope() != scope()) {
            throw new IllegalArgumentException(s.name() + " is " + describe(s.scope()) + " setting, not "
                    + describe(scope()) + " one");
        }
    }

    private static String describe(Scope scope) {
        return (scope == Scope.ENGINE ? "an " : "a ") + scope.name().toLowerCase(Locale.ROOT);
    }

    @Override
    public final boolean equals(Object o) {
        return o != null && o.getClass() == getClass() && ((SettingValues<?>) o).values.equals(values);
    }

    @Override
    public final int hashCode() {
        return values.hashCode() * 31 + getClass().hashCode();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + values;
    }
}
