package dev.ppsd.job;

import dev.ppsd.engine.settings.Setting;
import dev.ppsd.engine.settings.Setting.Kind;
import dev.ppsd.engine.settings.Setting.Scope;
import dev.ppsd.engine.settings.Settings;
import dev.ppsd.tools.cli.Main;
import dev.ppsd.udf.JobSettings;
import dev.ppsd.udf.PpsdFunctions;
import dev.ppsd.udf.PpsdGenerator;
import org.apache.spark.ml.param.Param;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every setting of the tables ({@link Settings}, and the Spark face's own in {@code JobOptions}) is accepted by every
 * channel with the same default and refused with the same error text: {@code bin/ppsd generate} flags, ppsd-job
 * flags and {@code --conf spark.ppsd.*}, the Spark params of {@link PpsdGenerator}, the session's
 * {@code spark.ppsd.*} confs, the SQL function's options map and the per-row columns.
 */
class SettingsEverywhereTest {
    private static SparkSession spark;

    @BeforeAll
    static void register() {
        spark = JobTests.spark();
        spark.conf().set(Settings.MODEL.confKey(), JobTests.model().toString());
        try {
            PpsdFunctions.register(spark);
        } finally {
            spark.conf().unset(Settings.MODEL.confKey());
        }
    }

    @AfterAll
    static void clean() {
        for (Setting<?> s : JobSettings.table()) {
            spark.conf().unset(s.confKey());
        }
    }

    /** A value the setting refuses, as text (the first candidate its own parser throws on), and the message. */
    private static String[] bad(Setting<?> s) {
        for (String candidate : List.of("lots", " ", "[\"\"]")) {
            try {
                s.parse(candidate);
            } catch (IllegalArgumentException e) {
                return new String[] {candidate, e.getMessage()};
            }
        }
        throw new AssertionError(s.name() + " takes every candidate bad value");
    }

    /** The bad value as a command line gives it: a list setting takes one string per occurrence. */
    private static String onCommandLine(Setting<?> s, String bad) {
        return s.kind() == Kind.STRINGS && bad.equals("[\"\"]") ? "" : bad;
    }

    /** Help text without its layout: picocli wraps lines, also after a dot inside a word. */
    private static String collapse(String s) {
        return s.replaceAll("\\s+", "");
    }

    @Test
    void everySettingHasTheSameDefaultOnEveryChannel() {
        String cli = collapse(run("generate", "--help")[1]);
        String job = collapse(JobArgs.usage());
        PpsdGenerator gen = new PpsdGenerator();
        JobSettings resolved = JobSettings.resolve(s -> null, k -> null);
        for (Setting<?> s : JobSettings.table()) {
            String help = collapse(s.help());
            if (s.scope() != Scope.JOB) {
                assertTrue(cli.contains(help), "bin/ppsd generate --help shows " + help);
            }
            assertTrue(job.contains(help), "ppsd-job --help shows " + help);
            Param<?> p = gen.getParam(s.name());
            Object sparkDefault = gen.getDefault(p).isDefined() ? gen.getDefault(p).get() : null;
            Object want = s.defaultValue();
            if (want instanceof List<?> l && sparkDefault instanceof int[] ints) {
                assertEquals(l, Arrays.stream(ints).boxed().toList(), s.name() + ": Spark param default");
            } else if (want instanceof List<?> l) {
                assertEquals(l, Arrays.asList((String[]) sparkDefault), s.name() + ": Spark param default");
            } else {
                assertEquals(want, sparkDefault, s.name() + ": Spark param default");
            }
            Object value = s.scope() == Scope.ENGINE ? resolved.engine().get(s)
                    : s.scope() == Scope.REQUEST ? resolved.defaults().get(s) : resolved.job().get(s);
            assertEquals(s.defaultValue(), value, s.name() + ": default of the SQL function, the job and per-row");
        }
    }

    @Test
    void everySettingRefusesABadValueWithTheSameTextOnEveryChannel() {
        List<String> checked = new ArrayList<>();
        for (Setting<?> s : JobSettings.table()) {
            String[] b = bad(s);
            String value = b[0];
            String message = b[1];
            String flagValue = onCommandLine(s, value);
            // bin/ppsd generate
            if (s.scope() != Scope.JOB) {
                List<String> args = new ArrayList<>(List.of("generate", "--prompt", "x"));
                if (s != Settings.MODEL) {
                    args.addAll(List.of("--model", JobTests.model().toString()));
                }
                args.addAll(List.of(s.flag(), flagValue));
                String[] r = run(args.toArray(String[]::new));
                assertEquals("2", r[0], s.name() + " on bin/ppsd: exit code");
                assertEquals("ppsd: error: " + message + System.lineSeparator(), r[2], s.name() + " on bin/ppsd");
            }
            // ppsd-job: its flag, and --conf spark.ppsd.<name>
            assertEquals(message, assertThrows(JobException.class, () -> JobArgs.parse(new String[] {"--input", "i",
                    "--output", "o", s.flag(), flagValue})).getMessage(), s.name() + " as a ppsd-job flag");
            assertEquals(message, assertThrows(JobException.class, () -> JobArgs.parse(new String[] {"--input", "i",
                    "--output", "o", "--conf", s.confKey() + "=" + value})).getMessage(), s.name() + " as --conf");
            // the Spark param, and the session's conf
            assertEquals(message, assertThrows(IllegalArgumentException.class,
                    () -> new PpsdGenerator().setParam(s.name(), value)).getMessage(), s.name() + " as a Spark param");
            spark.conf().set(s.confKey(), value);
            try {
                assertEquals(message, assertThrows(IllegalArgumentException.class,
                        () -> new PpsdGenerator().settings(false)).getMessage(), s.name() + " as a Spark conf");
            } finally {
                spark.conf().unset(s.confKey());
            }
            if (s.scope() != Scope.JOB) {
                // the SQL function's options map: the row's error
                Row r = spark.sql("SELECT ppsd_generate('In the beginning', map('" + s.name() + "', '"
                        + value.replace("'", "\\'") + "')).error AS e").collectAsList().get(0);
                assertEquals(message, r.getString(0), s.name() + " as an SQL option");
            }
            if (s.scope() == Scope.REQUEST) {
                // a per-row column (text, as in a CSV): that row's error, the other row is generated
                StructType schema = new StructType().add("id", "int").add("prompt", "string").add(s.name(), "string");
                List<Row> out = new PpsdGenerator().setParam("model", JobTests.model().toString())
                        .setParam("max_new_tokens", 2)
                        .transform(spark.createDataFrame(List.of(RowFactory.create(1, "In the", value),
                                RowFactory.create(2, "In the", null)), schema))
                        .orderBy("id").select("error", "new_tokens").collectAsList();
                assertEquals(message, out.get(0).getString(0), s.name() + " as a per-row column");
                assertEquals(null, out.get(1).get(0), s.name() + ": the other row is generated");
                assertEquals(2, out.get(1).getInt(1));
            }
            checked.add(s.name());
        }
        assertEquals(JobSettings.table().size(), checked.size());
    }

    /** Runs bin/ppsd's command line in this JVM: {exit code, stdout, stderr}. */
    private static String[] run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new String[] {String.valueOf(code), out.toString(StandardCharsets.UTF_8),
                err.toString(StandardCharsets.UTF_8)};
    }
}
