package dev.ppsd.udf;

import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Setting;
import dev.ppsd.engine.settings.Settings;

import org.apache.spark.sql.SparkSession;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Function;

/**
 * Every setting of one Spark job, resolved on the driver and shipped to the tasks (small and serializable: the
 * engine is named by its options, never shipped): the engine's options (model as given: a path, a Hadoop URI or a
 * shipped folder's name; {@code stages=auto} resolved per task), the job's default sampling params (a row's own
 * columns or options override them) and the job's own options (columns, what a bad row does).
 */
public record JobSettings(EngineOptions engine, SamplingParams defaults, JobOptions job) implements Serializable {
    /** Confs of ppsd-job itself (not settings): {@code spark.ppsd.job.*}. */
    public static final String JOB_CONF_PREFIX = Settings.CONF_PREFIX + "job.";

    /** Every setting a Spark job takes: the engine's table, then the Spark face's own ({@link JobOptions#TABLE}). */
    public static List<Setting<?>> table() {
        List<Setting<?>> all = new ArrayList<>(Settings.all());
        all.addAll(JobOptions.TABLE);
        return Collections.unmodifiableList(all);
    }

    /** The setting of a Spark job called {@code name}, or null. */
    public static Setting<?> setting(String name) {
        for (Setting<?> s : table()) {
            if (s.name().equals(name)) {
                return s;
            }
        }
        return null;
    }

    /**
     * Resolves every setting: {@code explicit.apply(setting)} when non-null (a setter, a flag; any form
     * {@link Setting#coerce} takes), else the Spark conf {@code spark.ppsd.<name>} (text, parsed), else the default.
     * Each value is checked by its setting; the model may stay unset here ({@link EngineHandle#validate}).
     */
    public static JobSettings resolve(Function<Setting<?>, Object> explicit, Function<String, String> conf) {
        Function<Setting<?>, Object> given = s -> {
            Object v = explicit.apply(s);
            return v != null ? v : conf.apply(s.confKey());
        };
        return new JobSettings(EngineOptions.defaults().withAll(Settings.all(), given),
                SamplingParams.defaults().withAll(Settings.all(), given),
                JobOptions.defaults().withAll(JobOptions.TABLE, given));
    }

    /** Settings from the Spark conf and the defaults only (the SQL function's case). */
    public static JobSettings fromConf(Function<String, String> conf) {
        return resolve(s -> null, conf);
    }

    /**
     * The {@code spark.ppsd.*} confs of {@code spark}'s session as a lookup, after checking that each names a setting
     * (a misspelt or renamed key fails instead of being ignored; {@code spark.ppsd.job.*} belongs to ppsd-job).
     */
    public static Function<String, String> conf(SparkSession spark) {
        for (String key : scala.jdk.javaapi.CollectionConverters.asJava(spark.conf().getAll()).keySet()) {
            if (key.startsWith(Settings.CONF_PREFIX) && !key.startsWith(JOB_CONF_PREFIX)
                    && setting(key.substring(Settings.CONF_PREFIX.length())) == null) {
                throw new IllegalArgumentException("unknown setting " + key + " (known: " + Settings.CONF_PREFIX
                        + String.join(", " + Settings.CONF_PREFIX, table().stream().map(Setting::name).toList())
                        + ")");
            }
        }
        return k -> spark.conf().contains(k) ? spark.conf().get(k) : null;
    }

    /** The handle of this job's engine. */
    public EngineHandle handle() {
        return new EngineHandle(engine);
    }
}
