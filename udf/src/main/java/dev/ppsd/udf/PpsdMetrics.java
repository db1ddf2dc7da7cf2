package dev.ppsd.udf;

import org.apache.spark.SparkContext;
import org.apache.spark.SparkEnv;
import org.apache.spark.util.CollectionAccumulator;
import org.apache.spark.util.LongAccumulator;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Progress counters of a generator or of the SQL function: named Spark {@link LongAccumulator}s, so they show in
 * the Spark UI's stage page and can be read on the driver after an action. Rows and errors count every row
 * handed back (failed rows included); new tokens and drafts count generated rows. As with any accumulator
 * updated inside a transformation, a re-computed partition (a second action on an uncached result, a retried
 * task) counts again. A generator's tasks also report what {@code speculation auto} has learned on their executor
 * ({@link #speculation()}).
 */
public final class PpsdMetrics implements Serializable {
    private final LongAccumulator rows;
    private final LongAccumulator errors;
    private final LongAccumulator newTokens;
    private final LongAccumulator draftsProposed;
    private final LongAccumulator draftsAccepted;
    private final CollectionAccumulator<String> speculation;

    private PpsdMetrics(SparkContext sc, String prefix) {
        rows = sc.longAccumulator(prefix + ".rows");
        errors = sc.longAccumulator(prefix + ".errors");
        newTokens = sc.longAccumulator(prefix + ".new_tokens");
        draftsProposed = sc.longAccumulator(prefix + ".drafts_proposed");
        draftsAccepted = sc.longAccumulator(prefix + ".drafts_accepted");
        speculation = sc.collectionAccumulator(prefix + ".speculation");
    }

    /** Registers the accumulators, named {@code <prefix>.rows}, {@code .errors}, {@code .new_tokens}, ... */
    public static PpsdMetrics register(SparkContext sc, String prefix) {
        return new PpsdMetrics(sc, prefix);
    }

    void add(RowResult r) {
        rows.add(1);
        if (!r.ok()) {
            errors.add(1);
            return;
        }
        newTokens.add(r.newTokens());
        draftsProposed.add(r.draftsProposed());
        draftsAccepted.add(r.draftsAccepted());
    }

    /** A task's report, at its end, of what its executor's engine has learned so far (null: nothing to say). */
    void learned(String summary) {
        if (summary != null) {
            SparkEnv env = SparkEnv.get();
            speculation.add((env == null ? "driver" : env.executorId()) + "\t" + summary);
        }
    }

    /**
     * What {@code speculation auto} has learned on each executor that ran these tasks ({@code "driver"} with a local
     * master), as its last task saw it ({@code PipelineScheduler.speculationSummary}: per number of rows in flight,
     * the schedule it settled on and the share of cycles its probes took).
     */
    public Map<String, String> speculation() {
        Map<String, String> out = new LinkedHashMap<>();
        for (String s : speculation.value()) {
            int tab = s.indexOf('\t');
            out.put(s.substring(0, tab), s.substring(tab + 1));
        }
        return out;
    }

    /** Rows handed back (generated or failed). */
    public LongAccumulator rows() {
        return rows;
    }

    /** Rows handed back with an error. */
    public LongAccumulator errors() {
        return errors;
    }

    /** Generated tokens. */
    public LongAccumulator newTokens() {
        return newTokens;
    }

    /** Drafts proposed by the early-exit drafter (0 in ar mode). */
    public LongAccumulator draftsProposed() {
        return draftsProposed;
    }

    /** Drafts accepted by the verifier. */
    public LongAccumulator draftsAccepted() {
        return draftsAccepted;
    }

    @Override
    public String toString() {
        return "rows=" + rows.value() + " errors=" + errors.value() + " new_tokens=" + newTokens.value()
                + " drafts=" + draftsAccepted.value() + "/" + draftsProposed.value();
    }
}
