package dev.ppsd.job;

import dev.ppsd.udf.PpsdMetrics;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The progress line on stderr while part sets run, from the udf's accumulators ({@code ppsd.rows},
 * {@code ppsd.new_tokens}, ...; the Spark UI shows them too). The driver sees an accumulator grow when a task
 * ends, so the line moves partition by partition. On a console it is one line redrawn every second; otherwise
 * (a cluster driver's log, CI) a line every ten seconds when something changed.
 */
final class ProgressReporter implements AutoCloseable {
    private final PrintStream err;
    private final boolean console;
    private final long totalRows;
    private final int partSets;
    private final long start = System.nanoTime();
    private final List<PpsdMetrics> metrics = new CopyOnWriteArrayList<>();
    private final AtomicInteger committed = new AtomicInteger();
    private final ScheduledExecutorService timer;
    private String last = "";
    private int openWidth;

    ProgressReporter(PrintStream err, boolean console, long totalRows, int partSets) {
        this.err = err;
        this.console = console;
        this.totalRows = totalRows;
        this.partSets = partSets;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "ppsd-job-progress");
            t.setDaemon(true);
            return t;
        });
        long every = console ? 1000 : 10_000;
        timer.scheduleAtFixedRate(this::tick, every, every, TimeUnit.MILLISECONDS);
    }

    /** Counts the rows of a part set's generator from now on. */
    void track(PpsdMetrics m) {
        metrics.add(m);
    }

    /** A part set was committed and published. */
    void committed(int k, int files, long rows) {
        int n = committed.incrementAndGet();
        event(String.format(Locale.ROOT, "ppsd-job: part set %d committed (%d rows, %d files), %d of %d", k, rows, files,
                n, partSets));
    }

    /**
     * The accumulators summed over the part sets: rows, errors, new tokens, drafts proposed, drafts accepted (a
     * retried task counts twice: exact counts come from the committed files).
     */
    long[] counts() {
        long[] c = new long[5];
        for (PpsdMetrics m : metrics) {
            c[0] += m.rows().value();
            c[1] += m.errors().value();
            c[2] += m.newTokens().value();
            c[3] += m.draftsProposed().value();
            c[4] += m.draftsAccepted().value();
        }
        return c;
    }

    /** What {@code speculation auto} learned per executor, the latest part set's word last. */
    Map<String, String> speculation() {
        Map<String, String> out = new LinkedHashMap<>();
        metrics.forEach(m -> out.putAll(m.speculation()));
        return out;
    }

    private String status() {
        long[] c = counts();
        long rows = c[0];
        long errors = c[1];
        long tokens = c[2];
        double s = (System.nanoTime() - start) / 1e9;
        return String.format(Locale.ROOT, "ppsd-job: %d/%d rows (%d failed), %d tokens, %.1f tokens/s, part sets %d/%d,"
                + " %d:%02d", rows, totalRows, errors, tokens, s > 0 ? tokens / s : 0.0, committed.get(), partSets,
                (long) s / 60, (long) s % 60);
    }

    private synchronized void tick() {
        String line = status();
        if (console) {
            err.print("\r" + line + " ".repeat(Math.max(0, openWidth - line.length())));
            openWidth = line.length();
            err.flush();
        } else if (!line.equals(last)) {
            err.println(line);
        }
        last = line;
    }

    private synchronized void event(String line) {
        if (openWidth > 0) {
            err.print("\r" + " ".repeat(openWidth) + "\r");
            openWidth = 0;
        }
        err.println(line);
    }

    @Override
    public synchronized void close() {
        timer.shutdownNow();
        if (openWidth > 0) {
            err.println();
            openWidth = 0;
        }
    }
}
