package dev.ppsd.tools.bench;

import com.google.gson.JsonNull;
import com.google.gson.JsonObject;

import java.util.ArrayList;
import java.util.List;

/**
 * One mode comparison of {@code ppsd bench}: every mode measured on the same prompts at one batch size, each
 * row relative to the {@code ar} run. The row fields are the {@code --json} fields, under the same names:
 * <ul>
 *   <li>{@code tokens_per_s}: generated tokens / wall seconds over all prompts;</li>
 *   <li>{@code acceptance}: α, accepted / proposed drafts (NaN, {@code null} in JSON, for modes that do not
 *       draft);</li>
 *   <li>{@code speedup}: tokens/s over ar's tokens/s;</li>
 *   <li>{@code bound}: ppsd only, S_k = k / (α + k(1 − α));</li>
 *   <li>{@code bound_cost}: ppsd only, S_c, the bound from the measured stage costs
 *       ({@link ModeRun#costBound});</li>
 *   <li>{@code efficiency}: ppsd only, speedup / S_c;</li>
 *   <li>{@code outputs_match_ar}: every prompt's token ids equal ar's (greedy decoding is lossless);</li>
 *   <li>{@code ttft_ms}, {@code tpot_ms}: mean time to the first token and per output token after it, per sequence
 *       ({@link ModeRun#ttftMs}, {@link ModeRun#tpotMs}).</li>
 * </ul>
 */
public record Comparison(int batchSize, List<Row> rows) {

    /** One mode's measurement; {@code run} keeps the raw measurement (stage costs, outputs). */
    public record Row(String label, String mode, int stages, double tokensPerSecond, double acceptance,
            double speedup, double bound, double boundCost, double efficiency, boolean outputsMatchAr,
            long newTokens, double wallMs, ModeRun run) {
    }

    public Comparison {
        rows = List.copyOf(rows);
    }

    /** Rows for {@code runs} (ar first, then the others in order) relative to the ar run {@code ar}. */
    public static Comparison of(int batchSize, ModeRun ar, List<ModeRun> runs) {
        List<Row> rows = new ArrayList<>();
        for (ModeRun r : runs) {
            double speedup = r.tokensPerSecond() / ar.tokensPerSecond();
            boolean pipelined = Benchmark.isPipelineDrafting(r.mode());
            double sk = pipelined ? ModeRun.pipelineBound(r.stages(), r.acceptance()) : Double.NaN;
            double sc = pipelined ? r.costBound(ar.msPerToken()) : Double.NaN;
            double eff = pipelined ? speedup / sc : Double.NaN;
            rows.add(new Row(r.label(), r.mode(), r.stages(), r.tokensPerSecond(), r.acceptance(), speedup, sk, sc,
                    eff, Benchmark.sameOutputs(r, ar), r.newTokens(), r.wallMs(), r));
        }
        return new Comparison(batchSize, rows);
    }

    /** The row of mode {@code label}, or null. */
    public Row row(String label) {
        return rows.stream().filter(r -> r.label().equals(label)).findFirst().orElse(null);
    }

    /** {@code {"ar": {"tokens_per_s": ..., ...}, "ppsd": {...}}}, the {@code --json} shape of one comparison. */
    public JsonObject toJson() {
        JsonObject modes = new JsonObject();
        for (Row r : rows) {
            JsonObject o = new JsonObject();
            o.addProperty("tokens_per_s", r.tokensPerSecond());
            num(o, "acceptance", r.acceptance());
            o.addProperty("speedup", r.speedup());
            num(o, "bound", r.bound());
            num(o, "bound_cost", r.boundCost());
            num(o, "efficiency", r.efficiency());
            o.addProperty("outputs_match_ar", r.outputsMatchAr());
            o.addProperty("new_tokens", r.newTokens());
            o.addProperty("wall_ms", r.wallMs());
            num(o, "ttft_ms", r.run().ttftMs());
            num(o, "tpot_ms", r.run().tpotMs());
            modes.add(r.label(), o);
        }
        return modes;
    }

    private static void num(JsonObject o, String k, double v) {
        if (Double.isNaN(v)) {
            o.add(k, JsonNull.INSTANCE);
        } else {
            o.addProperty(k, v);
        }
    }
}
