package dev.ppsd.udf;

import dev.ppsd.engine.settings.Settings;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** udf/README.md shows every setting of a Spark job as the settings tables have it now. */
class ReadmeSettingsTest {
    @Test
    void theReadmeShowsTheTable() throws IOException {
        Path readme = Path.of("").toAbsolutePath().resolve("README.md");
        String table = Settings.markdown(JobSettings.table());
        String text = Files.readString(readme);
        if (Boolean.getBoolean("ppsd.readme.update") && !text.contains(table)) {
            int from = text.indexOf("| setting | flag |");
            int to = text.indexOf("\n\n", from);
            Files.writeString(readme, text.substring(0, from) + table.strip() + text.substring(to));
            text = Files.readString(readme);
        }
        assertTrue(text.contains(table), "udf/README.md must show Settings.markdown(JobSettings.table()) as it is now"
                + " (refresh with -Dppsd.readme.update=true)");
    }
}
