package dev.ppsd.engine.decode;

import dev.ppsd.engine.settings.SamplingParams;
import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A sequence's clock against the wall clock: its first token's time is the first commit's (not a later one's), and a
 * result's time per output token after the first (TPOT) spreads the rest of its wall time over the other tokens.
 */
class SequenceTimingTest {
    @Test
    void theFirstTokenIsTimedAtTheFirstCommit() throws InterruptedException {
        Sequence s = new Sequence(new GenerationRequest("t", "p", SamplingParams.greedy(3)), new int[] {0}, 64);
        StopCriteria stop = new StopCriteria(Set.of(), null);
        assertTrue(Double.isNaN(s.ttftMs()), "no token yet");
        s.markStarted();
        Thread.sleep(40);
        s.commit(5, stop);
        Thread.sleep(80);
        s.commit(6, stop);
        Thread.sleep(80);
        assertTrue(s.commit(7, stop), "the budget of 3 ends it");
        double first = s.ttftMs();
        double wall = s.wallMs();
        assertTrue(first >= 40 && first < 120, "first token at " + first + " ms, slept 40 before it and 80 after");
        assertTrue(wall >= 200, "wall " + wall);

        GenerationResult r = new GenerationResult("t", 0, "", new int[] {5, 6, 7}, new int[] {0},
                FinishReason.LENGTH, null, wall, first, "ar", SpecMetrics.NONE, null, null, null, null);
        assertEquals((wall - first) / 2, r.tpotMs(), 1e-9);
        assertTrue(r.tpotMs() >= 80, "two gaps of 80 ms: " + r.tpotMs());
    }

    @Test
    void fewerThanTwoTokensHaveNoTimePerOutputToken() {
        GenerationResult one = new GenerationResult("t", 0, "", new int[] {5}, new int[] {0}, FinishReason.LENGTH,
                null, 12, 12, "ar", SpecMetrics.NONE, null, null, null, null);
        assertTrue(Double.isNaN(one.tpotMs()));
        GenerationResult failed = GenerationResult.failed("t", "ar", "bad");
        assertTrue(Double.isNaN(failed.ttftMs()));
        assertTrue(Double.isNaN(failed.tpotMs()));
    }
}
