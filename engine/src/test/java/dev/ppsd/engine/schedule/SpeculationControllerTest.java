package dev.ppsd.engine.schedule;

import org.junit.jupiter.api.Test;

import java.util.function.IntPredicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The controller on synthetic costs: each schedule's wall ms per committed token is fixed per test. */
class SpeculationControllerTest {
    @Test
    void alwaysDraftsWhenNotAdaptive() {
        SpeculationController c = new SpeculationController(false, 2);
        for (int i = 0; i < 1000; i++) {
            assertTrue(c.draft(1));
            c.observeCycle(true, 10, 1, false);
        }
    }

    @Test
    void drafting30PercentDearerEndsUpOffWithFewProbes() {
        int[] drafted = run(1.3, 1.0, 5000);
        // 2 + 16 warm-up cycles, then probes of 2 + 12 cycles 64, 128, 256, 512, 1024, 1024, ... cycles apart
        assertTrue(drafted[1] < 18 + 14 * 8, "drafting cycles: " + drafted[1]);
        assertEquals(false, drafted[0] == 1, "the last cycle drafted");
    }

    @Test
    void drafting30PercentCheaperStaysOnWithFewProbes() {
        int[] drafted = run(1.0, 1.3, 5000);
        int plain = 5000 - drafted[1];
        assertTrue(plain < 14 * 8, "plain cycles: " + plain);
    }

    @Test
    void withinTheMarginTheCurrentChoiceIsKept() {
        int[] drafted = run(1.03, 1.0, 2000); // 3% apart: not worth a switch
        assertTrue(drafted[1] > 1800, "drafting cycles: " + drafted[1]);
    }

    @Test
    void costsThatGrowOverTheRunDoNotFoolTheComparison() {
        // both schedules get dearer as the context grows (attention); plain stays 20% cheaper at every point.
        // A probe compared with a stale estimate of the other schedule would see drafting as cheaper.
        SpeculationController c = new SpeculationController(true, 2);
        int drafted = drive(c, 6000, (i, d) -> (d ? 1.2 : 1.0) * (1 + i / 500.0), i -> false)[1];
        assertTrue(drafted < 18 + 14 * 9, "drafting cycles: " + drafted);
        assertEquals(false, c.prefersDraft(1));
    }

    @Test
    void aChangeInCostsIsFollowed() {
        SpeculationController c = new SpeculationController(true, 2);
        drive(c, 1.0, 1.5, 3000); // drafting cheap
        int[] later = drive(c, 2.0, 1.0, 3000); // then acceptance collapses: drafting twice as dear
        assertEquals(0, later[0], "still drafting after the costs changed");
    }

    @Test
    void manySequencesStartPlainAndProbeBriefly() {
        // 32 sequences: plain first; drafting 50% dearer costs only short probes (4 measured cycles + 2 transition)
        int[] drafted = drive(new SpeculationController(true, 2), 32, 1.5, 1.0, 2000);
        assertEquals(0, drafted[0]);
        assertTrue(drafted[1] <= 6 * 6, "drafting cycles: " + drafted[1]);
    }

    @Test
    void manySequencesDraftWhenDraftingIsCheaper() {
        // a device that runs more rows per step nearly for free: drafting wins with many sequences too
        int[] drafted = drive(new SpeculationController(true, 2), 32, 0.7, 1.0, 2000);
        assertEquals(1, drafted[0]);
        assertTrue(2000 - drafted[1] < 16 + 2 + 6 * 6, "plain cycles: " + (2000 - drafted[1]));
    }

    @Test
    void eachOccupancyKeepsWhatItLearned() {
        SpeculationController c = new SpeculationController(true, 2);
        // one sequence: drafting cheaper (it is the prior; a probe confirms it)
        drive(c, 1, 1.0, 1.8, 500);
        // 32 sequences start plain (the prior) and learn to draft; 8 sequences keep plain
        drive(c, 32, 0.7, 1.0, 500);
        drive(c, 8, 1.5, 1.0, 500);
        assertTrue(c.prefersDraft(1));
        assertTrue(c.prefersDraft(32));
        assertEquals(false, c.prefersDraft(8));
        // back to one sequence: drafts at once, without a new warm-up
        int[] again = drive(c, 1, 1.0, 1.8, 20);
        assertEquals(20, again[1]);
    }

    @Test
    void theSummaryNamesEachOccupancyAndItsChoice() {
        SpeculationController c = new SpeculationController(true, 2);
        assertEquals(null, c.summary());
        drive(c, 1, 1.0, 1.8, 100);
        drive(c, 32, 1.5, 1.0, 100);
        String s = c.summary();
        assertTrue(s.startsWith("1 seq: drafts ("), s);
        assertTrue(s.contains("; 32-63 seqs: plain ("), s);
        assertEquals(null, new SpeculationController(false, 2).summary());
    }

    @Test
    void prefillCyclesAreNotMeasured() {
        // one sequence: the first drafting cycles prefill a long prompt and cost 1000× a decode cycle; counted,
        // they would make plain look cheaper than drafting
        SpeculationController c = new SpeculationController(true, 2);
        int plain = 1000 - drive(c, 1000, (i, d) -> i < 6 ? 1000 : d ? 1.0 : 1.3, i -> i < 6)[1];
        assertTrue(c.prefersDraft(1));
        assertTrue(plain < 12 * 6, "plain cycles: " + plain);
    }

    /** Returns {last cycle drafted ? 1 : 0, cycles that drafted}. */
    private static int[] run(double specMs, double plainMs, int cycles) {
        return drive(new SpeculationController(true, 2), specMs, plainMs, cycles);
    }

    private static int[] drive(SpeculationController c, double specMs, double plainMs, int cycles) {
        return drive(c, 1, specMs, plainMs, cycles);
    }

    /** As above with {@code active} sequences, each committing one token a cycle. */
    private static int[] drive(SpeculationController c, int active, double specMs, double plainMs, int cycles) {
        return drive(c, active, cycles, (i, d) -> (d ? specMs : plainMs) * active, i -> false);
    }

    /** One sequence committing a token a cycle, cycle {@code i} costing {@code cost(i, drafted)} ms. */
    private static int[] drive(SpeculationController c, int cycles, CycleCost cost, IntPredicate prefilled) {
        return drive(c, 1, cycles, cost, prefilled);
    }

    private static int[] drive(SpeculationController c, int active, int cycles, CycleCost cost,
            IntPredicate prefilled) {
        int drafted = 0;
        boolean last = false;
        for (int i = 0; i < cycles; i++) {
            last = c.draft(active);
            drafted += last ? 1 : 0;
            c.observeCycle(last, cost.ms(i, last), active, prefilled.test(i));
        }
        return new int[] {last ? 1 : 0, drafted};
    }

    /** Wall ms of cycle {@code i}, given whether it drafted. */
    private interface CycleCost {
        double ms(int i, boolean drafted);
    }
}
