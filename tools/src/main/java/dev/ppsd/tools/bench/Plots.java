package dev.ppsd.tools.bench;

import dev.ppsd.engine.schedule.PipelineTrace;

import org.knowm.xchart.AnnotationLine;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.Marker;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.IntFunction;
import java.util.function.ToIntFunction;

/**
 * The PNG plots of the bench report, drawn with XChart off-screen ({@code java.awt.headless=true}, set here
 * before any AWT class loads): speedup vs α against the PPSD and EESD models, tokens/s per mode and batch
 * size, and a per-stage timeline of one PPSD run.
 */
public final class Plots {
    static {
        // off-screen rendering only: no display is needed (servers, CI) and none is touched
        System.setProperty("java.awt.headless", "true");
    }

    /** Tableau-10 less its red: one colour per mode, in the order the modes were given, the same in every plot. */
    private static final Color[] PALETTE = {new Color(0x4E79A7), new Color(0xF28E2B), new Color(0x76B7B2),
        new Color(0x59A14F), new Color(0xEDC948), new Color(0xB07AA1), new Color(0xFF9DA7), new Color(0x9C755F),
        new Color(0xBAB0AC)};
    /** ar is the grey reference, ppsd the one red: the two the eye looks for first. */
    private static final Color AR_GREY = new Color(0x555555);
    private static final Color PPSD_RED = new Color(0xD62728);
    private static final BasicStroke DOTTED = new BasicStroke(2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND, 10f,
            new float[] {2f, 5f}, 0f);

    private Plots() {
    }

    /** The colour of mode {@code label} given the modes in their command-line order. */
    public static Color color(List<String> modes, String label) {
        if (label.equals("ar")) {
            return AR_GREY;
        }
        if (label.equals("ppsd") || label.startsWith("ppsd:")) {
            // a second ppsd variant (ppsd:always next to ppsd) takes a palette colour
            String first = modes.stream().filter(m -> m.equals("ppsd") || m.startsWith("ppsd:")).findFirst()
                    .orElse(label);
            if (first.equals(label)) {
                return PPSD_RED;
            }
        }
        List<String> others = modes.stream().filter(m -> !m.equals("ar") && !m.equals("ppsd")
                && !m.startsWith("ppsd:")).toList();
        int i = Math.max(0, others.indexOf(label));
        return PALETTE[i % PALETTE.length];
    }

    /**
     * Speedup over ar against the measured acceptance α: one marker per (mode, comparison) for the drafting
     * modes, ar as the line 1.0, the PPSD bound {@code k / (α + k(1 − α))}, and for every fixed-γ EESD mode its
     * cost model {@code (1 − α^(γ+1)) / ((1 − α)(γ c + 1))} with {@code c = E / N}.
     *
     * @param points  one comparison per α point (one in all without a sweep)
     * @param modes   mode labels in command-line order
     * @param gammaOf the fixed draft length of an EESD label, or 0 (Thompson sampling, or not EESD)
     */
    public static void speedupVsAlpha(Path png, List<Comparison> points, List<String> modes, int k, double c,
            ToIntFunction<String> gammaOf) throws IOException {
        XYChart chart = new XYChartBuilder().width(1000).height(620)
                .title(String.format(Locale.ROOT, "Speedup over ar vs acceptance α (k = %d stages, c = E/N = %.3f)",
                        k, c))
                .xAxisTitle("acceptance α (measured: accepted / proposed drafts)").yAxisTitle("speedup over ar")
                .build();
        style(chart);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        chart.getStyler().setXAxisMin(0.0);
        chart.getStyler().setXAxisMax(1.0);
        chart.getStyler().setYAxisMin(0.0);
        chart.getStyler().setMarkerSize(11);
        int n = 101;
        double[] grid = new double[n];
        for (int i = 0; i < n; i++) {
            grid[i] = i / (double) (n - 1);
        }
        line(chart, "ar (1.0)", new double[] {0, 1}, new double[] {1, 1}, AR_GREY, new BasicStroke(2f));
        double[] bound = new double[n];
        for (int i = 0; i < n; i++) {
            bound[i] = ModeRun.pipelineBound(k, grid[i]);
        }
        String ppsdLabel = modes.stream().filter(m -> m.startsWith("ppsd")).findFirst().orElse("ppsd");
        // solid and thicker: XChart restarts a dash pattern on every segment, which on a 101-point curve hides it
        line(chart, "PPSD bound k/(α+k(1−α))", grid, bound, color(modes, ppsdLabel), new BasicStroke(3f));
        Set<Integer> drawn = new HashSet<>(); // eesd and eesd:3 share one curve when γ = 3
        for (String m : modes) {
            int g = gammaOf.applyAsInt(m);
            if (g > 0 && drawn.add(g)) {
                double[] model = new double[n];
                for (int i = 0; i < n; i++) {
                    model[i] = eesdModel(grid[i], g, c);
                }
                line(chart, "EESD model γ=" + g, grid, model, color(modes, m), DOTTED);
            }
        }
        for (String m : modes) {
            List<Double> xs = new ArrayList<>();
            List<Double> ys = new ArrayList<>();
            for (Comparison p : points) {
                Comparison.Row r = p.row(m);
                if (r != null && !Double.isNaN(r.acceptance()) && Double.isFinite(r.speedup())) {
                    xs.add(r.acceptance());
                    ys.add(r.speedup());
                }
            }
            if (xs.isEmpty()) {
                continue; // ar, ar-pipe, or a mode that never drafted: no α to place it at
            }
            XYSeries s = chart.addSeries(m + " (measured)", xs, ys);
            s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
            s.setMarker(m.startsWith("ppsd") ? SeriesMarkers.CIRCLE : SeriesMarkers.DIAMOND);
            s.setMarkerColor(color(modes, m));
        }
        save(chart, png);
    }

    /** EESD's cost model, written as the geometric sum so that α = 1 needs no limit. */
    public static double eesdModel(double alpha, int gamma, double c) {
        double expected = 0; // expected tokens per round: 1 + α + ... + α^γ = (1 − α^(γ+1)) / (1 − α)
        for (int i = 0; i <= gamma; i++) {
            expected += Math.pow(alpha, i);
        }
        return expected / (gamma * c + 1);
    }

    /** Grouped bars: tokens/s of every mode at every batch size. */
    public static void throughputVsBatch(Path png, List<Comparison> perBatch, List<String> modes) throws IOException {
        CategoryChart chart = new CategoryChartBuilder().width(1000).height(560)
                .title("Throughput per mode and batch size").xAxisTitle("batch size (sequences decoded together)")
                .yAxisTitle("tokens/s (all prompts)").build();
        style(chart);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        chart.getStyler().setYAxisMin(0.0);
        chart.getStyler().setYAxisDecimalPattern("#,##0.#");
        List<String> categories = perBatch.stream().map(p -> String.valueOf(p.batchSize())).toList();
        for (String m : modes) {
            List<Double> ys = new ArrayList<>();
            for (Comparison p : perBatch) {
                Comparison.Row r = p.row(m);
                ys.add(r == null ? 0.0 : r.tokensPerSecond());
            }
            chart.addSeries(m, categories, ys).setFillColor(color(modes, m));
        }
        save(chart, png);
    }

    /**
     * Gantt-like timeline of {@code maxCycles} decode cycles of one PPSD run, drawn as an XY chart: each busy
     * interval of a stage is a two-point line series with a thick butt-capped stroke on that stage's row, the
     * coordinator's time between cycles (verify, bookkeeping, hand-off routing) gets its own row, thin grey
     * lines mark where each cycle starts, and the top row marks each accepted draft and each flush at the end of
     * the cycle whose verification decided it. (XChart has no Gantt chart; this needs no second library.)
     */
    public static void timeline(Path png, PpsdTimeline t, int maxCycles) throws IOException {
        int k = t.stages();
        int first = t.firstDecodeCycle();
        List<PipelineTrace.Cycle> cs = t.cycles().subList(first, Math.min(t.cycles().size(), first + maxCycles));
        int rows = k + 2; // verify row, k stage rows, coordinator row
        int height = 220 + 75 * rows;
        XYChart chart = new XYChartBuilder().width(1200).height(height)
                .title(String.format(Locale.ROOT, "PPSD timeline: cycles %d–%d of one prompt (batch 1, %s)", first,
                        first + cs.size() - 1, t.label()))
                .xAxisTitle("time since cycle " + first + " started (ms)").yAxisTitle("").build();
        style(chart);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        chart.getStyler().setYAxisMin(-0.7);
        chart.getStyler().setYAxisMax(rows - 1 + 0.7);
        // XChart drops every tick label unless all are distinct, so ticks must fall on the rows only: a spacing
        // hint of one row pitch (plot height ~ chart height - 120 px for title, x axis and legend) gives step 1
        double pitch = (height - 120.0) / (rows + 0.4);
        chart.getStyler().setYAxisTickMarkSpacingHint((int) Math.round(pitch));
        chart.getStyler().setPlotGridLinesVisible(false);
        chart.getStyler().setMarkerSize(12);
        IntFunction<String> rowName = y -> {
            if (y == rows - 1) {
                return "verify";
            }
            if (y == 0) {
                return "coordinator";
            }
            int b = k - y; // stage index, stage 0 on top
            return "stage " + (b + 1) + ": layers " + t.split().from(b) + "–" + (t.split().to(b) - 1)
                    + (b == 0 ? " + exit head" : "");
        };
        chart.getStyler().setyAxisTickLabelsFormattingFunction(v -> {
            long y = Math.round(v);
            return Math.abs(v - y) < 1e-6 && y >= 0 && y < rows ? rowName.apply((int) y)
                    : String.format(Locale.ROOT, "%.2f", v);
        });
        if (cs.isEmpty()) {
            line(chart, "no cycles recorded", new double[] {0, 1}, new double[] {0, 0}, AR_GREY, new BasicStroke(1f));
            save(chart, png);
            return;
        }
        double t0 = cs.get(0).startMs();
        // bars take about half of the row pitch
        float bar = (float) Math.max(6, 0.45 * pitch);
        BasicStroke barStroke = new BasicStroke(bar, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER);
        Color[] stageColors = {new Color(0x4E79A7), new Color(0xF28E2B), new Color(0x59A14F), new Color(0xB07AA1)};
        int id = 0;
        List<Double> acceptedX = new ArrayList<>();
        List<Double> flushX = new ArrayList<>();
        chart.getStyler().setAnnotationLineColor(new Color(0xDDDDDD));
        chart.getStyler().setAnnotationLineStroke(new BasicStroke(1f));
        for (int i = 0; i < cs.size(); i++) {
            PipelineTrace.Cycle c = cs.get(i);
            chart.addAnnotation(new AnnotationLine(c.startMs() - t0, true, false)); // cycle boundary
            for (int b = 0; b < k; b++) {
                if (c.entries()[b] > 0 && !Double.isNaN(c.stageStartMs()[b])) {
                    bar(chart, "s" + b + "#" + id++, c.stageStartMs()[b] - t0, c.stageEndMs()[b] - t0, k - b,
                            stageColors[b % stageColors.length], barStroke);
                }
            }
            if (i + 1 < cs.size()) {
                bar(chart, "coord#" + id++, c.endMs() - t0, cs.get(i + 1).startMs() - t0, 0, AR_GREY, barStroke);
            }
            for (int a = 0; a < c.accepted(); a++) {
                acceptedX.add(c.endMs() - t0);
            }
            for (int f = 0; f < c.flushed(); f++) {
                flushX.add(c.endMs() - t0);
            }
        }
        markers(chart, "draft accepted", acceptedX, rows - 1 + 0.15, SeriesMarkers.TRIANGLE_UP, new Color(0x2CA02C));
        markers(chart, "draft rejected: flush", flushX, rows - 1 - 0.15, SeriesMarkers.CROSS, new Color(0xD62728));
        save(chart, png);
    }

    private static void bar(XYChart chart, String name, double x0, double x1, double y, Color color,
            BasicStroke stroke) {
        XYSeries s = chart.addSeries(name, new double[] {x0, Math.max(x1, x0 + 1e-6)}, new double[] {y, y});
        s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
        s.setMarker(SeriesMarkers.NONE);
        s.setLineColor(color);
        s.setLineStyle(stroke);
        s.setShowInLegend(false); // the y-axis names the rows
    }

    private static void markers(XYChart chart, String name, List<Double> xs, double y,
            Marker marker, Color color) {
        if (xs.isEmpty()) {
            return;
        }
        List<Double> ys = xs.stream().map(x -> y).toList();
        XYSeries s = chart.addSeries(name + " (" + xs.size() + ")", xs, ys);
        s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
        s.setMarker(marker);
        s.setMarkerColor(color);
    }

    private static void line(XYChart chart, String name, double[] xs, double[] ys, Color color, BasicStroke stroke) {
        XYSeries s = chart.addSeries(name, xs, ys);
        s.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
        s.setMarker(SeriesMarkers.NONE);
        s.setLineColor(color);
        s.setLineStyle(stroke);
    }

    private static void style(Chart<?, ?> chart) {
        Styler st = chart.getStyler();
        st.setChartBackgroundColor(Color.WHITE);
        st.setPlotBackgroundColor(Color.WHITE);
        st.setLegendBorderColor(new Color(0xDDDDDD));
        st.setAntiAlias(true);
    }

    private static void save(Chart<?, ?> chart, Path png) throws IOException {
        try (OutputStream o = Files.newOutputStream(png)) {
            BitmapEncoder.saveBitmap(chart, o, BitmapEncoder.BitmapFormat.PNG);
        }
    }
}
