package dev.ppsd.tools.bench;

import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.schedule.PipelineScheduler;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Runs decoding modes on the same prompts in one process, one after another, each after a short warm-up,
 * and measures what {@link ModeRun} reports. A mode is {@code ar}, {@code ar-pipe}, {@code ppsd}, {@code spd},
 * {@code eesd} (γ from the options) or {@code eesd:G} / {@code eesd:ts} for a given draft length, and
 * {@code ppsd:always} / {@code ppsd:auto} ({@code spd:...} alike) for the speculation policy.
 */
public final class Benchmark {
    private Benchmark() {
    }

    /** Parses {@code mode[:gamma]} into engine options derived from {@code base}. */
    public static EngineOptions optionsFor(EngineOptions base, String spec) {
        String[] p = spec.split(":", 2);
        EngineOptions o = base.with(Settings.MODE, p[0]);
        if (p.length == 2) {
            if (p[0].equals("eesd")) {
                o = o.with(Settings.GAMMA, p[1]);
            } else if (isPipelineDrafting(p[0])) {
                o = o.with(Settings.SPECULATION, p[1]);
            } else {
                throw new IllegalArgumentException("a suffix is only for eesd:G|ts, ppsd:auto|always and"
                        + " spd:auto|always but got " + spec);
            }
        }
        return o;
    }

    /** Whether {@code mode} drafts in the pipeline (ppsd, spd): the pipeline bounds apply to it. */
    public static boolean isPipelineDrafting(String mode) {
        return mode.equals("ppsd") || mode.equals("spd");
    }

    /**
     * Measures one mode over {@code requests} (each with its own settings: {@code ignore_eos} makes every request
     * run to its token budget).
     */
    public static ModeRun run(EngineOptions base, String spec, List<GenerationRequest> requests, int warmup) {
        return run(base, spec, requests, warmup, null);
    }

    /**
     * As {@link #run(EngineOptions, String, List, int)} on an already loaded {@code model} of
     * {@code base.modelDir()} (null: load it), so that every mode of a comparison runs on the same weights in
     * memory.
     */
    public static ModeRun run(EngineOptions base, String spec, List<GenerationRequest> requests, int warmup,
            LlamaModel model) {
        EngineOptions o = optionsFor(base, spec);
        try (GenerationEngine engine = model == null ? GenerationEngine.open(o) : GenerationEngine.open(o, model)) {
            if (warmup > 0) {
                List<GenerationRequest> w = new ArrayList<>();
                for (GenerationRequest r : requests.subList(0, Math.min(warmup, requests.size()))) {
                    w.add(r.with(r.params().with(Settings.MAX_NEW_TOKENS, Math.min(8, r.params().get(Settings.MAX_NEW_TOKENS)))));
                }
                engine.generate(w);
            }
            double coordinatorBefore = engine.scheduler() instanceof PipelineScheduler p ? p.stageCosts().coordinatorMs() : 0;
            long t0 = System.nanoTime();
            List<GenerationResult> results = engine.generate(requests);
            double wall = (System.nanoTime() - t0) / 1e6;
            long tokens = 0;
            long proposed = 0;
            long accepted = 0;
            for (GenerationResult r : results) {
                if (!r.ok()) {
                    throw new IllegalArgumentException("request " + r.id() + " failed: " + r.error());
                }
                tokens += r.newTokens();
                proposed += r.spec().draftsProposed();
                accepted += r.spec().draftsAccepted();
            }
            double[] stageCost = null;
            String plan = null;
            double coordinator = 0;
            int stages = 1;
            if (engine.scheduler() instanceof PipelineScheduler p) {
                stageCost = p.stageCosts().msPerToken();
                coordinator = p.stageCosts().coordinatorMs() - coordinatorBefore;
                stages = p.split().stages();
                plan = p.plan();
                String learned = p.speculationSummary();
                if (learned != null) {
                    plan += "\nspeculation auto: " + learned;
                }
            }
            return new ModeRun(o.get(Settings.MODE), spec, stages, wall, tokens, proposed, accepted, stageCost, coordinator, plan, results);
        }
    }

    /** True when every result has the same token ids as the reference run. */
    public static boolean sameOutputs(ModeRun run, ModeRun reference) {
        if (run.results().size() != reference.results().size()) {
            return false;
        }
        for (int i = 0; i < run.results().size(); i++) {
            if (!Arrays.equals(run.results().get(i).tokenIds(), reference.results().get(i).tokenIds())) {
                return false;
            }
        }
        return true;
    }
}
