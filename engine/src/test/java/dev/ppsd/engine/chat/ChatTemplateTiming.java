package dev.ppsd.engine.chat;

import java.nio.file.Path;
import java.util.List;

/**
 * Measures what a chat template costs (not a test): the first load of a JVM (starting the JavaScript context,
 * loading {@code @huggingface/jinja} and parsing), the first render, and the warm time per render after
 * {@code warmup} renders, for each model folder given. The figures of engine/README.md "Chat templates" come from:
 *
 * <pre>
 * mvn -B -ntp -o -q -pl engine test -Dtest=HfTokenizerParityTest   # installs the oracle's tokenizer folders
 * mvn -B -ntp -o -q -pl engine dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 * java -cp engine/target/classes:engine/target/test-classes:$(cat engine/target/cp.txt) \
 *     dev.ppsd.engine.chat.ChatTemplateTiming 2000 engine/target/node-oracle/models/llama3_1 \
 *     engine/target/node-oracle/models/qwen3
 * </pre>
 */
public final class ChatTemplateTiming {
    private ChatTemplateTiming() {
    }

    public static void main(String[] args) {
        int warmup = Integer.parseInt(args[0]);
        List<ChatMessage> chat = ChatCases.LISTS.get("multi-turn");
        for (int i = 1; i < args.length; i++) {
            long t0 = System.nanoTime();
            ChatTemplate t = ChatTemplate.load(Path.of(args[i]));
            long t1 = System.nanoTime();
            t.render(chat, true);
            long t2 = System.nanoTime();
            for (int j = 0; j < warmup; j++) {
                t.render(chat, true);
            }
            int n = 1000;
            long t3 = System.nanoTime();
            for (int j = 0; j < n; j++) {
                t.render(chat, true);
            }
            long t4 = System.nanoTime();
            System.out.printf("%s: load %.0f ms, first render %.1f ms, warm %.3f ms/render (after %d)%n", args[i],
                    (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t4 - t3) / 1e6 / n, warmup);
        }
    }
}
