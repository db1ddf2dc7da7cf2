package dev.ppsd.tools.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.LlamaConfig;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.SpdHead;
import dev.ppsd.engine.runtime.DjlRuntime;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code ppsd eval}: per held-out file, the model's perplexity against a unigram baseline (add-one counts
 * from the training files), and the greedy top-1 agreement between each drafter and the full model
 * (teacher-forced over held-out text) — the acceptance rate α: the shared head at every layer, every trained head
 * given, and the SPD head given, as in a full pipeline ({@code alpha_spd_head}, by number of stages: what
 * {@code --mode spd}'s cost model reads) and right after a flush, with one token in flight
 * ({@code alpha_spd_head_after_flush}).
 */
public final class Evaluator {
    private Evaluator() {
    }

    public static JsonObject run(Path modelDir, List<Path> heldOut, List<Path> train, List<Path> headDirs,
            Path spdHeadDir, int seqLen, int maxWindows, PrintStream log) throws IOException {
        DjlRuntime.init();
        JsonObject report = new JsonObject();
        try (LlamaModel model = LlamaModel.load(modelDir)) {
            LlamaConfig c = model.config();
            int n = c.numHiddenLayers();
            List<ExitHead> heads = new ArrayList<>();
            for (Path d : headDirs) {
                heads.add(ExitHead.load(d, model, model.manager()));
            }
            SpdHead spd = spdHeadDir == null ? null : SpdHead.load(spdHeadDir, model, model.manager());
            double[] unigram = train.isEmpty() ? null : unigramLogProbs(TokenStream.load(train, modelDir, c), c);
            for (Path file : heldOut) {
                TokenStream data = TokenStream.load(List.of(file), modelDir, c);
                int[][] windows = data.windows(seqLen, maxWindows);
                double nll = 0;
                double uniNll = 0;
                long count = 0;
                long[] sharedAgree = new long[n];
                long[] headAgree = new long[heads.size()];
                long[] spdAgree = new long[2]; // full pipeline, one token in flight
                for (int[] w : windows) {
                    try (NDScope ignored = new NDScope()) {
                        int[][][] io = Losses.split(new int[][] {w});
                        NDManager m = model.manager();
                        AttentionBatch a = AttentionBatch.causal(m, model.rope(), 1, seqLen);
                        NDArray h = model.embed(m, io[0]);
                        NDArray[] states = new NDArray[n + 1];
                        states[0] = h;
                        for (int l = 0; l < n; l++) {
                            h = model.stack(l, l + 1).forward(h, a, null);
                            states[l + 1] = h;
                        }
                        NDArray logits = model.logits(h);
                        NDArray top = logits.argMax(-1);
                        nll += Losses.crossEntropy(m, logits, io[1]).getFloat() * seqLen;
                        for (int l = 1; l < n; l++) {
                            sharedAgree[l] += agree(top, model.logits(states[l]));
                        }
                        for (int i = 0; i < heads.size(); i++) {
                            ExitHead head = heads.get(i);
                            headAgree[i] += agree(top, head.logits(states[head.exitLayer()], a, null));
                        }
                        if (spd != null) {
                            int[] anchors = spd.anchors();
                            NDArray[] at = new NDArray[anchors.length];
                            for (int i = 0; i < anchors.length; i++) {
                                at[i] = states[anchors[i]];
                            }
                            for (int f = 0; f < 2; f++) {
                                int[] fill = {f == 0 ? spd.stages() : 1};
                                spdAgree[f] += agree(top, spd.teacherForcedLogits(m, model.rope(), io[0], at, fill));
                            }
                        }
                        if (unigram != null) {
                            for (int t : io[1][0]) {
                                uniNll -= unigram[t];
                            }
                        }
                        count += seqLen;
                    }
                }
                JsonObject r = new JsonObject();
                r.addProperty("tokens", count);
                r.addProperty("loss", nll / count);
                r.addProperty("perplexity", Math.exp(nll / count));
                if (unigram != null) {
                    r.addProperty("unigram_perplexity", Math.exp(uniNll / count));
                }
                JsonObject shared = new JsonObject();
                for (int l = 1; l < n; l++) {
                    shared.addProperty(String.valueOf(l), (double) sharedAgree[l] / count);
                }
                r.add("alpha_shared_head", shared);
                JsonObject trained = new JsonObject();
                for (int i = 0; i < heads.size(); i++) {
                    trained.addProperty(String.valueOf(heads.get(i).exitLayer()), (double) headAgree[i] / count);
                }
                r.add("alpha_trained_head", trained);
                if (spd != null) {
                    JsonObject full = new JsonObject();
                    full.addProperty(String.valueOf(spd.stages()), (double) spdAgree[0] / count);
                    r.add("alpha_spd_head", full);
                    JsonObject flushed = new JsonObject();
                    flushed.addProperty(String.valueOf(spd.stages()), (double) spdAgree[1] / count);
                    r.add("alpha_spd_head_after_flush", flushed);
                }
                String name = file.getFileName().toString();
                report.add(name, r);
                log.printf(Locale.ROOT, "%s: %d tokens  loss %.4f  ppl %.2f%s%n", name, count, nll / count,
                        Math.exp(nll / count), unigram == null ? "" : String.format(Locale.ROOT,
                                "  (unigram ppl %.2f)", Math.exp(uniNll / count)));
                log.printf(Locale.ROOT, "  alpha shared head by exit layer: %s%n", shared);
                log.printf(Locale.ROOT, "  alpha trained heads by exit layer: %s%n", trained);
                if (spd != null) {
                    log.printf(Locale.ROOT, "  alpha SPD head, %d stages: %.4f with a full pipeline, %.4f right after"
                            + " a flush%n", spd.stages(), (double) spdAgree[0] / count, (double) spdAgree[1] / count);
                }
            }
        }
        log.println(new GsonBuilder().setPrettyPrinting().create().toJson(report));
        return report;
    }

    private static long agree(NDArray top, NDArray draftLogits) {
        return draftLogits.argMax(-1).eq(top).toType(DataType.INT64, false).sum().getLong();
    }

    private static double[] unigramLogProbs(TokenStream data, LlamaConfig c) {
        double[] counts = new double[c.vocabSize()];
        java.util.Arrays.fill(counts, 1.0);
        int[][] all = data.windows(data.size() - 1, 1);
        for (int t : all[0]) {
            counts[t]++;
        }
        double total = java.util.Arrays.stream(counts).sum();
        double[] lp = new double[counts.length];
        for (int i = 0; i < counts.length; i++) {
            lp[i] = Math.log(counts[i] / total);
        }
        return lp;
    }
}
