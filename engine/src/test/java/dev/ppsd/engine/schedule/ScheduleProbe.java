package dev.ppsd.engine.schedule;

import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Scratch: tokens/s of each forced schedule vs ar. */
public class ScheduleProbe {
    static final class Fixed extends SpeculationController {
        final Schedule s;
        Fixed(Schedule s, int k) { super(false, k); this.s = s; }
        @Override Schedule next(int active) { return s; }
    }

    public static void main(String[] a) throws Exception {
        Path model = Path.of(a[0]);
        int batch = Integer.parseInt(a[1]);
        boolean ignoreEos = Boolean.parseBoolean(a[2]);
        List<GenerationRequest> reqs = new ArrayList<>();
        int i = 0;
        for (String line : Files.readAllLines(Path.of("data/prompts/bible.jsonl"))) {
            String p = com.google.gson.JsonParser.parseString(line).getAsJsonObject().get("prompt").getAsString();
            reqs.add(new GenerationRequest("r" + i++, p, SamplingParams.greedy(64).withValue(Settings.IGNORE_EOS, ignoreEos)));
        }
        EngineOptions base = EngineOptions.of(model).with(Settings.BATCH_SIZE, batch);
        String[] runs = a.length > 3 ? a[3].split(",") : new String[] {"ar", "draft", "lockstep", "ar-pipe", "auto"};
        for (int round = 0; round < 2; round++) {
            for (String r : runs) {
                EngineOptions o = r.equals("ar") ? base.with(Settings.MODE, "ar") : base.with(Settings.MODE, "ppsd");
                try (GenerationEngine e = GenerationEngine.open(o)) {
                    if (!r.equals("ar") && !r.equals("auto")) {
                        Schedule s = r.equals("draft") ? Schedule.DRAFT : r.equals("lockstep") ? Schedule.LOCKSTEP : Schedule.AR_PIPE;
                        ((PipelineScheduler) e.scheduler()).decideWith(new Fixed(s, 2));
                    }
                    e.generate(reqs.subList(0, 8));
                    long t0 = System.nanoTime();
                    List<GenerationResult> out = e.generate(reqs);
                    double s = (System.nanoTime() - t0) / 1e9;
                    long tok = out.stream().mapToLong(GenerationResult::newTokens).sum();
                    String extra = e.scheduler() instanceof PipelineScheduler p ? " stage ms/tok " + java.util.Arrays.toString(p.stageCosts().msPerToken()) + " coord " + (int) p.stageCosts().coordinatorMs() : "";
                    System.out.printf("%-9s %7.1f tok/s  (%d tokens, %.2f s)%s%n", r, tok / s, tok, s, extra);
                }
            }
        }
    }
}
