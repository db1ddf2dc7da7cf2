package dev.ppsd.job;

import dev.ppsd.engine.settings.Setting;
import dev.ppsd.engine.settings.Settings;
import dev.ppsd.udf.JobSettings;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The settings tables of engine/README.md (the engine's settings) and udf/README.md (every setting of a Spark job)
 * are {@code Settings.markdown} of the tables as they are now; {@code -Dppsd.readme.update=true} rewrites them.
 */
class ReadmeTablesTest {
    static Stream<Arguments> readmes() {
        return Stream.of(Arguments.of("engine/README.md", Settings.all()),
                Arguments.of("udf/README.md", JobSettings.table()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("readmes")
    void theReadmeShowsTheSettingsTable(String file, List<Setting<?>> settings) throws IOException {
        Path readme = Path.of("").toAbsolutePath().getParent().resolve(file);
        String table = Settings.markdown(settings);
        String text = Files.readString(readme);
        if (Boolean.getBoolean("ppsd.readme.update") && !text.contains(table)) {
            int from = text.indexOf("| setting | flag |");
            int to = text.indexOf("\n\n", from);
            Files.writeString(readme, text.substring(0, from) + table.strip() + text.substring(to));
            text = Files.readString(readme);
        }
        assertTrue(text.contains(table), file + " must show the settings table as it is now (refresh with"
                + " -Dppsd.readme.update=true)");
    }
}
