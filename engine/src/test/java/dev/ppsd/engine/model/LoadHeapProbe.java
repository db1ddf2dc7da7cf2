package dev.ppsd.engine.model;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Measures the Java heap a model load takes: {@code java -Xmx.. -cp .. dev.ppsd.engine.model.LoadHeapProbe DIR
 * [float32|bfloat16|float16] [write LAYERS HIDDEN VOCAB]}. With {@code write} it first writes a random
 * Llama-layout model of that shape to DIR (F32; its largest tensor is generated on the heap, so give the writing run
 * enough), then, after a full GC, loads it and prints one line:
 * the model's bytes on disk, the heap in use before loading, the peak of heap in use while loading (the larger of a
 * 1 ms sampler's maximum and the sum of the heap pools' peak-usage counters, reset before loading; the latter
 * counts each pool at its own peak, so it is an upper bound) and the load time.
 */
public final class LoadHeapProbe {
    private LoadHeapProbe() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        String dtype = args.length > 1 ? args[1] : "float32";
        if (args.length > 2 && args[2].equals("write")) {
            FamilyModels.write(dir, config(Integer.parseInt(args[3]), Integer.parseInt(args[4]),
                    Integer.parseInt(args[5])), 7);
        }
        long bytes = Files.size(dir.resolve("model.safetensors"));
        DataType type = LlamaModel.dataType(dtype, LlamaConfig.load(dir), false);
        dev.ppsd.engine.runtime.DjlRuntime.init();
        System.gc();
        long before = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            p.resetPeakUsage();
        }
        AtomicLong sampled = new AtomicLong();
        Thread sampler = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                sampled.accumulateAndGet(ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed(), Math::max);
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        sampler.setDaemon(true);
        sampler.start();
        long t0 = System.nanoTime();
        try (LlamaModel m = LlamaModel.load(dir, Device.cpu(), type)) {
            double ms = (System.nanoTime() - t0) / 1e6;
            sampler.interrupt();
            sampler.join();
            long poolPeaks = 0;
            for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
                if (p.getType() == MemoryType.HEAP) {
                    poolPeaks += p.getPeakUsage().getUsed();
                }
            }
            long peak = Math.max(sampled.get(), poolPeaks);
            System.out.printf(Locale.ROOT, "LOAD model %.1f MB dtype %s: heap before %.1f MB, peak while loading %.1f MB"
                    + " (sampled %.1f MB, pool peaks %.1f MB), max heap %.0f MB, %.0f ms%n", bytes / 1e6,
                    m.dataType(), before / 1e6, peak / 1e6, sampled.get() / 1e6, poolPeaks / 1e6,
                    Runtime.getRuntime().maxMemory() / 1e6, ms);
        }
    }

    /** A Llama layout of {@code layers} x {@code hidden} (intermediate 11/4 hidden, 16 heads / 8 KV heads), untied. */
    static LlamaConfig config(int layers, int hidden, int vocab) {
        return new LlamaConfig(hidden, hidden * 11 / 4, layers, 16, 8, hidden / 16, 1e-5f, 10000f, vocab, 2048, false,
                1, java.util.List.of(2));
    }

    /** For tests: the peak figure (MB) of a LOAD line. */
    static double peakMb(String line) throws IOException {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("peak while loading ([0-9.]+) MB").matcher(line);
        if (!m.find()) {
            throw new IOException("no LOAD figure in: " + line);
        }
        return Double.parseDouble(m.group(1));
    }
}
