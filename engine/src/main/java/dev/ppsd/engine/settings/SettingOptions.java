package dev.ppsd.engine.settings;

import dev.ppsd.engine.settings.Setting.Kind;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

import java.util.Arrays;
import java.util.List;

/**
 * Settings as picocli command-line options, for every command line of the project ({@code bin/ppsd},
 * {@code ppsd-job}): one option per setting, named {@link Setting#flag()}, described by {@link Setting#help()}, its
 * text parsed and checked by the setting itself, so a bad value reads the same as on every other channel.
 * A list setting ({@code --stop}) is repeated; a boolean one may stand alone ({@code --fail-on-error}).
 * picocli is an optional dependency of the engine: only the command lines, which bring it, load this class.
 */
public final class SettingOptions {
    private SettingOptions() {
    }

    /** Adds an option for each of {@code settings} to {@code spec}, in their order. */
    public static void addTo(CommandSpec spec, List<Setting<?>> settings) {
        for (Setting<?> s : settings) {
            OptionSpec.Builder o = OptionSpec.builder(s.flag()).paramLabel(s.metavar()).description(
                    s.help().replace("%", "%%")); // picocli formats descriptions: a literal % is %%
            if (s.kind() == Kind.STRINGS || s.kind() == Kind.INTS) {
                o.type(String[].class).arity("1");
            } else if (s.kind() == Kind.BOOLEAN) {
                o.type(String.class).arity("0..1").fallbackValue("true");
            } else {
                o.type(String.class).arity("1");
            }
            spec.addOption(o.build());
        }
    }

    /**
     * The value given on the command line for {@code s}, as {@link Setting#coerce} takes it (the text, or the list
     * of a repeated option), or null when the option was not given.
     */
    public static Object given(ParseResult parsed, Setting<?> s) {
        if (!parsed.hasMatchedOption(s.flag())) {
            return null;
        }
        Object v = parsed.matchedOptionValue(s.flag(), null);
        return v instanceof String[] a ? Arrays.asList(a) : v;
    }
}
