package dev.ppsd.engine.decode;

import dev.ppsd.engine.settings.SamplingParams;
import dev.ppsd.engine.settings.Settings;
import dev.ppsd.engine.runtime.DjlRuntime;
import dev.ppsd.engine.tokenizer.TextTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * Stop strings checked on the decoded tail only: the sequence must stop at exactly the token where a full
 * decode would first contain a stop string, and cut the text at its first occurrence, however long the text.
 */
class StopCriteriaTest {
    static TextTokenizer tok;
    static final String TEXT = "In the beginning God created the heaven and the earth. And the earth was without form, "
            + "and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the "
            + "waters. And God said, Let there be light: and there was light. And God saw the light, that it was good: "
            + "and God divided the light from the darkness. Und über allem: café, naïve — ünïcödé. And God called the "
            + "light Day, and the darkness he called Night. And the evening and the morning were the first day.";

    @BeforeAll
    static void load() {
        DjlRuntime.init();
        tok = TextTokenizer.load(Path.of("..", "models", "ppsd-mini"));
    }

    @AfterAll
    static void close() {
        tok.close();
    }

    @Test
    void stopsAtTheSameTokenAsAFullDecodeWouldWithTheSameCut() {
        int[] ids = tok.encode(TEXT);
        for (List<String> stops : List.of(List.of("Night"), List.of("first day."), List.of("café"), List.of("ünïcödé"),
                List.of("morning", "Spirit"), List.of("In the"), List.of("never appears"), List.of("—"))) {
            Expected want = reference(ids, stops);
            Sequence s = new Sequence(new GenerationRequest("x", "p",
                    SamplingParams.greedy(ids.length).withValue(Settings.STOP, stops)), new int[] {0}, 4096);
            StopCriteria stop = new StopCriteria(Set.of(), tok);
            int stoppedAt = -1;
            for (int i = 0; i < ids.length; i++) {
                if (s.commit(ids[i], stop)) {
                    stoppedAt = i;
                    break;
                }
            }
            if (want.index < 0) {
                assertEquals(FinishReason.LENGTH, s.finishReason(), stops.toString());
                assertNull(s.stopText());
            } else {
                assertEquals(want.index, stoppedAt, "stop token for " + stops);
                assertEquals(FinishReason.STOP, s.finishReason());
                assertEquals(want.text, s.stopText(), "cut for " + stops);
            }
        }
    }

    @Test
    void ignoreEosIsPerRequest() {
        int eos = 1;
        StopCriteria withEos = new StopCriteria(Set.of(eos), tok);
        Sequence a = new Sequence(new GenerationRequest("a", "p", SamplingParams.greedy(5)), new int[] {0}, 64);
        assertEquals(true, a.commit(eos, withEos));
        assertEquals(FinishReason.EOS, a.finishReason());
        Sequence b = new Sequence(new GenerationRequest("b", "p", SamplingParams.greedy(5)
                .withValue(Settings.IGNORE_EOS, true)), new int[] {0}, 64);
        assertFalse(b.commit(eos, withEos));
    }

    private record Expected(int index, String text) {
    }

    /** Brute force: decode the whole prefix after every token. */
    private static Expected reference(int[] ids, List<String> stops) {
        for (int i = 0; i < ids.length; i++) {
            String text = tok.decode(ids, i + 1);
            int cut = -1;
            for (String st : stops) {
                int at = text.indexOf(st);
                if (at >= 0 && (cut < 0 || at < cut)) {
                    cut = at;
                }
            }
            if (cut >= 0) {
                return new Expected(i, text.substring(0, cut));
            }
        }
        return new Expected(-1, null);
    }
}
