package dev.ppsd.engine.guided;

import com.google.gson.JsonParser;
import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Measures what guided decoding costs (not a test), in the manner of {@code bin/ppsd bench}: one process, the same
 * weights in memory for every engine, a warm-up, then interleaved rounds, each configuration keeping its median
 * round. Every request decodes exactly {@code max_new_tokens} tokens ({@code ignoreEos}: after a constraint is
 * complete the rule allows only EOS), so the model does the same work with and without a constraint and the
 * difference is the guided machinery. Per mode and constraint: tokens/s unguided, guided with a cold cache (a
 * fresh engine per round: the constraint is compiled and every mask computed during the run) and with a warm one
 * (an engine that ran the same rows before), and the rule's time per generated token. The figures of
 * docs/benchmarks.md "Guided decoding" come from:
 *
 * <pre>
 * mvn -B -ntp -o -q -pl engine test-compile
 * mvn -B -ntp -o -q -pl engine dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 * java -Xmx4g -Dai.djl.offline=true -cp engine/target/classes:engine/target/test-classes:$(cat engine/target/cp.txt) \
 *     dev.ppsd.engine.guided.GuidedBenchmark models/ppsd-mini data/prompts/sample.jsonl 32 64 8 5 ar,ppsd
 * </pre>
 *
 * and, for the 128k vocabulary (after {@code Llama3VocabGuidedTest} fetched the tokenizer), with the model argument
 * {@code llama3-vocab:engine/target/node-oracle/models/llama3_1/tokenizer.json}.
 * Arguments: model folder, prompts (JSON Lines with "prompt"; repeated to the limit), prompt count, max_new_tokens,
 * batch size, rounds, modes ({@code ar}, {@code ppsd} = two CPU stages drafting every cycle).
 */
public final class GuidedBenchmark {
    static final String SCHEMA = """
            {"type": "object", "properties": {
              "kind": {"enum": ["verse", "code", "other"]},
              "subject": {"type": "string", "pattern": "^[A-Za-z ]{1,24}$"},
              "words": {"type": "integer"},
              "names": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z][a-z]{1,11}$"}, "maxItems": 4},
              "quote": {"type": "string", "maxLength": 60},
              "short": {"type": "boolean"}},
             "required": ["kind", "subject", "words", "quote"]}""";
    static final Map<String, SamplingParams> WORKLOADS = new LinkedHashMap<>();

    static {
        SamplingParams p = SamplingParams.defaults();
        WORKLOADS.put("choice", p.withValue(Settings.GUIDED_CHOICE, List.of(" the LORD", " null", " Israel", " this")));
        WORKLOADS.put("regex", p.withValue(Settings.GUIDED_REGEX, " ?[A-Z][a-z]+(,? [a-z]+){6,40}[.;]"));
        WORKLOADS.put("json", p.withValue(Settings.GUIDED_JSON, SCHEMA));
    }

    private GuidedBenchmark() {
    }

    /** One run: wall-clock tokens/s, process CPU ms per token (robust to other processes taking the cores). */
    record Round(double tokensPerS, double cpuMsPerToken, long tokens, long inside, double acceptance,
            GuidedDecoding.Stats stats) {
    }

    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();

    public static void main(String[] args) throws IOException {
        Path modelDir = args[0].startsWith("llama3-vocab:") ? llama3VocabModel(Path.of(args[0].substring(13)))
                : Path.of(args[0]);
        List<String> prompts = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of(args[1]))) {
            if (!line.isBlank()) {
                prompts.add(JsonParser.parseString(line).getAsJsonObject().get("prompt").getAsString());
            }
        }
        int limit = Integer.parseInt(args[2]);
        int maxNew = Integer.parseInt(args[3]);
        int batch = Integer.parseInt(args[4]);
        int rounds = Integer.parseInt(args[5]);
        List<String> modes = List.of(args[6].split(","));
        try (LlamaModel model = LlamaModel.load(modelDir)) {
            for (String mode : modes) {
                EngineOptions o = EngineOptions.of(modelDir).with(Settings.BATCH_SIZE, batch).with(Settings.MODE, mode);
                if (mode.equals("ppsd")) {
                    o = o.with(Settings.STAGES, "cpu,cpu").with(Settings.SPECULATION, "always");
                }
                Map<String, List<Round>> runs = new LinkedHashMap<>();
                try (GenerationEngine plain = open(o, model); GenerationEngine warm = open(o, model)) {
                    // warm-up: every configuration once (the warm engine's caches fill here)
                    run(plain, requests(prompts, limit, maxNew, SamplingParams.defaults()));
                    for (SamplingParams w : WORKLOADS.values()) {
                        run(warm, requests(prompts, limit, maxNew, w));
                    }
                    for (int r = 0; r < rounds; r++) {
                        runs.computeIfAbsent("none", k -> new ArrayList<>())
                                .add(run(plain, requests(prompts, limit, maxNew, SamplingParams.defaults())));
                        for (Map.Entry<String, SamplingParams> w : WORKLOADS.entrySet()) {
                            List<GenerationRequest> reqs = requests(prompts, limit, maxNew, w.getValue());
                            try (GenerationEngine cold = open(o, model)) {
                                runs.computeIfAbsent(w.getKey() + " cold", k -> new ArrayList<>()).add(run(cold, reqs));
                            }
                            runs.computeIfAbsent(w.getKey() + " warm", k -> new ArrayList<>()).add(run(warm, reqs));
                        }
                    }
                }
                report(mode, batch, limit, maxNew, runs);
            }
        }
    }

    /**
     * A random 2-layer model of the Llama 3.1 vocabulary (128,256 ids) with {@code tokenizer} (its tokenizer.json,
     * e.g. the one {@code NodeOracle} fetches to engine/target/node-oracle/models/llama3_1), written once to
     * target/guided-bench/llama3-vocab.
     */
    static Path llama3VocabModel(Path tokenizer) throws IOException {
        Path dir = Path.of("target", "guided-bench", "llama3-vocab");
        if (!Files.exists(dir.resolve("model.safetensors"))) {
            dev.ppsd.engine.model.LlamaConfig c = new dev.ppsd.engine.model.LlamaConfig(64, 128, 2, 4, 2, 16, 1e-5f,
                    500000f, 128256, 512, false, 128000, List.of(128001, 128008, 128009));
            dev.ppsd.engine.model.TinyModels.write(Files.createDirectories(dir), c, 11);
        }
        Files.copy(tokenizer, dir.resolve("tokenizer.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        return dir;
    }

    private static GenerationEngine open(EngineOptions o, LlamaModel model) {
        return GenerationEngine.open(o, model);
    }

    private static List<GenerationRequest> requests(List<String> prompts, int limit, int maxNew, SamplingParams p) {
        List<GenerationRequest> out = new ArrayList<>();
        for (int i = 0; i < limit; i++) {
            out.add(new GenerationRequest("p" + i, prompts.get(i % prompts.size()),
                    p.with(Settings.MAX_NEW_TOKENS, maxNew).with(Settings.IGNORE_EOS, true)));
        }
        return out;
    }

    private static Round run(GenerationEngine e, List<GenerationRequest> reqs) {
        GuidedDecoding.Stats before = e.guided().stats();
        long c0 = OS.getProcessCpuTime();
        long t0 = System.nanoTime();
        List<GenerationResult> out = e.generate(reqs);
        double s = (System.nanoTime() - t0) / 1e9;
        double cpuMs = (OS.getProcessCpuTime() - c0) / 1e6;
        long tokens = 0;
        long inside = 0;
        long proposed = 0;
        long accepted = 0;
        for (GenerationResult r : out) {
            proposed += r.spec().draftsProposed();
            accepted += r.spec().draftsAccepted();
            if (!r.ok()) {
                throw new IllegalStateException(r.id() + ": " + r.error());
            }
            tokens += r.newTokens();
            int n = 0;
            while (n < r.tokenIds().length && !e.model().config().eosTokenIds().contains(r.tokenIds()[n])) {
                n++;
            }
            inside += n;
        }
        return new Round(tokens / s, cpuMs / tokens, tokens, inside, proposed == 0 ? Double.NaN
                : (double) accepted / proposed, e.guided().stats().minus(before));
    }

    private static Round median(List<Round> rs) {
        Round[] a = rs.toArray(new Round[0]);
        Arrays.sort(a, (x, y) -> Double.compare(x.tokensPerS(), y.tokensPerS()));
        return a[a.length / 2];
    }

    private static double medianCpu(List<Round> rs) {
        double[] a = rs.stream().mapToDouble(Round::cpuMsPerToken).sorted().toArray();
        return a[a.length / 2];
    }

    private static void report(String mode, int batch, int limit, int maxNew, Map<String, List<Round>> runs) {
        Round none = median(runs.get("none"));
        double noneCpu = medianCpu(runs.get("none"));
        System.out.printf("%n%s, batch %d, %d prompts x %d tokens, median of %d rounds: unguided %.1f tokens/s,"
                + " %.3f CPU ms / token, acceptance %.2f%n", mode, batch, limit, maxNew, runs.get("none").size(),
                none.tokensPerS(), noneCpu, none.acceptance());
        System.out.println("| constraint | tokens before EOS | cache | tokens/s | vs unguided | CPU ms / token |"
                + " vs unguided | acceptance | rule ms / token | masks built | mask build ms | compile ms |");
        System.out.println("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (String w : WORKLOADS.keySet()) {
            for (String cache : List.of("cold", "warm")) {
                List<Round> rs = runs.get(w + " " + cache);
                Round r = median(rs);
                double cpu = medianCpu(rs);
                GuidedDecoding.Stats s = r.stats();
                System.out.printf("| %s | %.0f%% | %s | %.1f | %+.1f%% | %.3f | %+.1f%% | %.2f | %.4f | %d | %.1f |"
                        + " %.1f |%n", w, 100.0 * r.inside() / r.tokens(), cache, r.tokensPerS(),
                        100 * (r.tokensPerS() / none.tokensPerS() - 1), cpu, 100 * (cpu / noneCpu - 1),
                        r.acceptance(), (s.applyMs() + s.compileMs()) / r.tokens(), s.maskBuilds(),
                        s.maskBuildMs(), s.compileMs());
            }
        }
    }
}
