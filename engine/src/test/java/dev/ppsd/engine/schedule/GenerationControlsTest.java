package dev.ppsd.engine.schedule;

import dev.ppsd.engine.GenerationEngine;
import dev.ppsd.engine.decode.FinishReason;
import dev.ppsd.engine.decode.GenerationRequest;
import dev.ppsd.engine.decode.GenerationResult;
import dev.ppsd.engine.decode.Sampler;
import dev.ppsd.engine.decode.TokenLogprob;
import dev.ppsd.engine.model.KvCache;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The generation controls against a plain-Java reference written here over the logits of uncached full forwards:
 * repetition / presence / frequency penalties, min_new_tokens, stop_token_ids, ignore_eos, logprobs and
 * prompt_logprobs, n samples; greedy speculative modes stay token-identical to ar with every control on, and their
 * logprobs agree with ar's.
 */
class GenerationControlsTest {
    static final int EOS = 1;
    static final List<String> MODES = List.of("ar", "ppsd", "spd", "eesd");

    @TempDir
    static Path tmp;
    static Path dir;
    static LlamaModel model;
    static Map<String, GenerationEngine> engines = new HashMap<>();

    @BeforeAll
    static void open() throws IOException {
        LlamaConfig c = ControlledAcceptanceModel.config(ControlledAcceptanceModel.LAYERS, 64,
                ControlledAcceptanceModel.VOCAB, List.of(EOS));
        dir = ControlledAcceptanceModel.write(tmp.resolve("model"), c, 2, 0.3, 41);
        SpecHarness.writeSpdHead(dir, 2);
        model = LlamaModel.load(dir);
        for (String mode : MODES) {
            engines.put(mode, GenerationEngine.open(EngineOptions.of(dir).with(Settings.MODE, mode)
                    .with(Settings.EXIT_HEAD, "shared").with(Settings.EXIT_LAYER, 2).with(Settings.BATCH_SIZE, 4)
                    .with(Settings.SPECULATION, "always")));
        }
    }

    @AfterAll
    static void close() {
        engines.values().forEach(GenerationEngine::close);
        model.close();
    }

    // ------------------------------------------------------------------ the reference

    /** The model's logits for the position after {@code tokens}: one uncached forward of the whole sequence. */
    static float[] logits(int[] tokens) {
        try (KvCache cache = model.newCache(1, tokens.length)) {
            float[][] l = model.forwardLogits(cache, 0, tokens, 0);
            return l[l.length - 1];
        }
    }

    /** Penalties and min_new_tokens as the issue defines them, written out plainly. */
    static float[] controlled(float[] raw, int[] prompt, List<Integer> generated, SamplingParams p) {
        float[] l = raw.clone();
        double r = p.get(Settings.REPETITION_PENALTY);
        Set<Integer> seen = new HashSet<>(generated);
        for (int t : prompt) {
            seen.add(t);
        }
        for (int t : seen) {
            if (r != 1) {
                l[t] = (float) (l[t] > 0 ? l[t] / r : l[t] * r);
            }
        }
        for (int t : new HashSet<>(generated)) {
            long count = generated.stream().filter(x -> x == t).count();
            l[t] -= (float) (p.get(Settings.FREQUENCY_PENALTY) * count + p.get(Settings.PRESENCE_PENALTY));
        }
        if (generated.size() < p.get(Settings.MIN_NEW_TOKENS)) {
            l[EOS] = Float.NEGATIVE_INFINITY;
            for (int t : p.get(Settings.STOP_TOKEN_IDS)) {
                l[t] = Float.NEGATIVE_INFINITY;
            }
        }
        return l;
    }

    /** The reference decode: greedy argmax or a draw with the sequence's seeded stream, as ar consumes it. */
    static List<Integer> reference(int[] prompt, SamplingParams p) {
        List<Integer> out = new ArrayList<>();
        SplittableRandom rng = new SplittableRandom(p.get(Settings.SEED));
        int budget = p.get(Settings.MAX_NEW_TOKENS);
        while (out.size() < budget) {
            int[] seq = Arrays.copyOf(prompt, prompt.length + out.size());
            for (int i = 0; i < out.size(); i++) {
                seq[prompt.length + i] = out.get(i);
            }
            float[] l = controlled(logits(seq), prompt, out, p);
            int t = p.isGreedy() ? Sampler.argmax(l) : Sampler.draw(Sampler.distribution(l, p), rng.nextDouble());
            out.add(t);
            if ((t == EOS && !p.get(Settings.IGNORE_EOS)) || p.get(Settings.STOP_TOKEN_IDS).contains(t)) {
                break;
            }
        }
        return out;
    }

    static int[] ids(List<Integer> l) {
        return l.stream().mapToInt(Integer::intValue).toArray();
    }

    static GenerationResult run(String mode, String prompt, SamplingParams p) {
        GenerationResult r = engines.get(mode).generate(List.of(new GenerationRequest("r", prompt, p))).get(0);
        assertNull(r.error(), mode);
        return r;
    }

    static final String PROMPT = "And God said, Let there be light: and there was light";

    static SamplingParams allControls() {
        return SamplingParams.greedy(24).with(Settings.REPETITION_PENALTY, 1.4).with(Settings.PRESENCE_PENALTY, 0.5)
                .with(Settings.FREQUENCY_PENALTY, 0.3).with(Settings.MIN_NEW_TOKENS, 6).with(Settings.SEED, 5L);
    }

    // ------------------------------------------------------------------ tests

    @Test
    void penaltiesAndMinNewTokensMatchTheReferenceGreedyAndSampledAndEveryModeMatchesAr() {
        int[] prompt = engines.get("ar").tokenizer().encode(PROMPT);
        SamplingParams greedy = allControls();
        List<Integer> want = reference(prompt, greedy);
        assertTrue(want.size() >= 6, "min_new_tokens holds back EOS: " + want);
        for (String mode : MODES) {
            assertArrayEquals(ids(want), run(mode, PROMPT, greedy).tokenIds(), mode + " greedy with every control");
        }
        // the penalties change the text: without them the reference differs
        assertTrue(!want.equals(reference(prompt, SamplingParams.greedy(24))), "the controls must matter here");
        SamplingParams sampled = allControls().with(Settings.TEMPERATURE, 0.9).with(Settings.TOP_K, 40);
        assertArrayEquals(ids(reference(prompt, sampled)), run("ar", PROMPT, sampled).tokenIds(), "ar sampled");
    }

    @Test
    void stopTokenIdsEndTheTextWithTheirIdAsStopReasonAndIgnoreEosGoesOn() throws IOException {
        int[] prompt = engines.get("ar").tokenizer().encode(PROMPT);
        SamplingParams p = SamplingParams.greedy(24).with(Settings.REPETITION_PENALTY, 1.4);
        List<Integer> free = reference(prompt, p);
        // stop at the first token of the free run's second half that did not occur before it
        int at = free.size() / 2;
        while (free.subList(0, at).contains(free.get(at))) {
            at++;
        }
        int stopId = free.get(at);
        SamplingParams stopping = p.with(Settings.STOP_TOKEN_IDS, List.of(stopId));
        for (String mode : MODES) {
            GenerationResult r = run(mode, PROMPT, stopping);
            assertArrayEquals(ids(free.subList(0, at + 1)), r.tokenIds(), mode);
            assertEquals(FinishReason.STOP, r.finishReason(), mode);
            assertEquals(stopId, r.stopReason(), mode);
        }
        // ignore_eos: the same weights with the free run's 4th token as EOS (a token this model does generate): the
        // text ends there, unless the row ignores EOS
        int eos = free.get(3);
        assertTrue(!free.subList(0, 3).contains(eos), "the 4th token is new: " + free);
        try (GenerationEngine e = GenerationEngine.open(EngineOptions.of(withEos(eos)).with(Settings.MODE, "ar"))) {
            GenerationResult ends = e.generate(List.of(new GenerationRequest("r", PROMPT, p))).get(0);
            assertArrayEquals(ids(free.subList(0, 4)), ends.tokenIds());
            assertEquals(FinishReason.EOS, ends.finishReason());
            GenerationResult r = e.generate(List.of(new GenerationRequest("r", PROMPT,
                    p.with(Settings.IGNORE_EOS, true)))).get(0);
            assertArrayEquals(ids(free), r.tokenIds(), "past EOS, as without it");
            assertEquals(FinishReason.LENGTH, r.finishReason());
        }
    }

    /** The test model with {@code eos} as its EOS id (config.json rewritten; the weights shared). */
    static Path withEos(int eos) throws IOException {
        Path other = tmp.resolve("eos-" + eos);
        java.nio.file.Files.createDirectories(other);
        for (String f : List.of("model.safetensors", "tokenizer.json")) {
            java.nio.file.Files.copy(dir.resolve(f), other.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        com.google.gson.JsonObject c = com.google.gson.JsonParser.parseString(java.nio.file.Files.readString(
                dir.resolve("config.json"))).getAsJsonObject();
        c.addProperty("eos_token_id", eos);
        java.nio.file.Files.writeString(other.resolve("config.json"), c.toString());
        return other;
    }


    @Test
    void logprobsAreTheRowsOwnDistributionAndAgreeAcrossModes() {
        int[] prompt = engines.get("ar").tokenizer().encode(PROMPT);
        SamplingParams p = allControls().with(Settings.LOGPROBS, 3).with(Settings.PROMPT_LOGPROBS, 2);
        GenerationResult ar = run("ar", PROMPT, p);
        List<Integer> generated = new ArrayList<>();
        for (int i = 0; i < ar.tokenIds().length; i++) {
            int[] seq = Arrays.copyOf(prompt, prompt.length + i);
            for (int j = 0; j < i; j++) {
                seq[prompt.length + j] = ar.tokenIds()[j];
            }
            // greedy rows: the controlled logits' softmax at temperature 1
            float[] dist = TokenLogprob.softmax(controlled(logits(seq), prompt, generated, p));
            TokenLogprob got = ar.logprobs().get(i);
            assertEquals(ar.tokenIds()[i], got.token());
            assertEquals(Math.log(dist[got.token()]), got.logprob(), 1e-4, "token " + i);
            assertEquals(3, got.topTokens().length);
            assertEquals(Sampler.argmax(dist), got.topTokens()[0], "the most likely alternative first");
            assertTrue(got.topLogprobs()[0] >= got.topLogprobs()[1] && got.topLogprobs()[1] >= got.topLogprobs()[2]);
            assertEquals(engines.get("ar").tokenizer().decode(new int[] {got.token()}, 1), got.text());
            generated.add(ar.tokenIds()[i]);
        }
        // prompt tokens after the first, under the model (temperature 1, no penalties)
        assertEquals(prompt.length - 1, ar.promptLogprobs().size());
        for (int i = 1; i < prompt.length; i++) {
            float[] dist = TokenLogprob.softmax(logits(Arrays.copyOf(prompt, i)));
            assertEquals(Math.log(dist[prompt[i]]), ar.promptLogprobs().get(i - 1).logprob(), 1e-4, "prompt " + i);
            assertEquals(2, ar.promptLogprobs().get(i - 1).topTokens().length);
        }
        for (String mode : List.of("ppsd", "eesd")) {
            GenerationResult other = run(mode, PROMPT, p);
            assertArrayEquals(ar.tokenIds(), other.tokenIds(), mode);
            for (int i = 0; i < ar.logprobs().size(); i++) {
                assertEquals(ar.logprobs().get(i).logprob(), other.logprobs().get(i).logprob(), 1e-4, mode + " " + i);
                assertArrayEquals(ar.logprobs().get(i).topTokens(), other.logprobs().get(i).topTokens(), mode);
            }
            for (int i = 0; i < ar.promptLogprobs().size(); i++) {
                assertEquals(ar.promptLogprobs().get(i).logprob(), other.promptLogprobs().get(i).logprob(), 1e-4,
                        mode + " prompt " + i);
            }
        }
        assertNull(run("ar", PROMPT, allControls()).logprobs(), "absent when not asked for");
        // a sampled row: under its warped distribution (temperature, top-k)
        SamplingParams sampled = allControls().with(Settings.TEMPERATURE, 0.7).with(Settings.TOP_K, 20)
                .with(Settings.LOGPROBS, 1);
        for (String mode : List.of("ar", "ppsd")) { // ppsd: the verdicts' distribution is the logprobs' too
            GenerationResult s = run(mode, PROMPT, sampled);
            List<Integer> before = new ArrayList<>();
            for (int i = 0; i < s.tokenIds().length; i++) {
                int[] seq = Arrays.copyOf(prompt, prompt.length + i);
                for (int j = 0; j < i; j++) {
                    seq[prompt.length + j] = s.tokenIds()[j];
                }
                float[] dist = Sampler.distribution(controlled(logits(seq), prompt, before, sampled), sampled);
                assertEquals(Math.log(dist[s.tokenIds()[i]]), s.logprobs().get(i).logprob(), 1e-4,
                        mode + " sampled token " + i);
                before.add(s.tokenIds()[i]);
            }
        }
    }

    @Test
    void nSamplesAreTheSeedsInTurnAndTheirPromptIsPrefilledOnce() {
        String prompt = "In the beginning God created the heaven and the earth. And the earth was without form";
        SamplingParams p = SamplingParams.greedy(8).with(Settings.TEMPERATURE, 0.9).with(Settings.SEED, 100L)
                .with(Settings.REPETITION_PENALTY, 1.2);
        for (String mode : List.of("ar", "ppsd", "spd")) {
            GenerationEngine e = engines.get(mode);
            long hitsBefore = e.scheduler().prefixCacheCounts()[1];
            List<GenerationResult> all = e.generate(List.of(new GenerationRequest("x", prompt, p.with(Settings.N, 3)),
                    new GenerationRequest("y", "short", SamplingParams.greedy(2))));
            assertEquals(4, all.size(), "3 samples of x, then y");
            for (int j = 0; j < 3; j++) {
                GenerationResult alone = run(mode, prompt, p.with(Settings.SEED, 100L + j));
                assertEquals("x", all.get(j).id());
                assertEquals(j, all.get(j).sampleIndex());
                assertArrayEquals(alone.tokenIds(), all.get(j).tokenIds(), mode + " sample " + j);
            }
            assertEquals("y", all.get(3).id());
            long hits = e.scheduler().prefixCacheCounts()[1] - hitsBefore;
            assertTrue(hits >= 2 + 3, mode + ": samples 2 and 3 (and the 3 runs alone) take the prompt from the prefix"
                    + " cache: " + hits);
        }
    }
}
