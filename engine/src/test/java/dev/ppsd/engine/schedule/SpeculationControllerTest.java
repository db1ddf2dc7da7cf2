package dev.ppsd.engine.schedule;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The controller on synthetic costs: each schedule's wall ms per committed token is fixed per test. */
class SpeculationControllerTest {
    @Test
    void alwaysDraftsWhenNotAdaptive() {
        SpeculationController c = new SpeculationController(false, 2);
        for (int i = 0; i < 1000; i++) {
            assertTrue(c.draft());
            c.observeCycle(true, 10, 1);
        }
    }

    @Test
    void drafting30PercentDearerEndsUpOffWithFewProbes() {
        int[] drafted = run(1.3, 1.0, 5000);
        // 15 warm-up cycles, then probes of 12 cycles 64, 128, 256, 512, 1024, 1024, ... cycles apart
        assertTrue(drafted[1] < 15 + 12 * 8, "drafting cycles: " + drafted[1]);
        assertEquals(false, drafted[0] == 1, "the last cycle drafted");
    }

    @Test
    void drafting30PercentCheaperStaysOnWithFewProbes() {
        int[] drafted = run(1.0, 1.3, 5000);
        int plain = 5000 - drafted[1];
        assertTrue(plain < 12 * 8, "plain cycles: " + plain);
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
        int drafted = 0;
        for (int i = 0; i < 6000; i++) {
            boolean d = c.draft();
            drafted += d ? 1 : 0;
            double grow = 1 + i / 500.0;
            c.observeCycle(d, (d ? 1.2 : 1.0) * grow, 1);
        }
        assertTrue(drafted < 15 + 12 * 9, "drafting cycles: " + drafted);
        assertEquals(false, c.prefersDraft());
    }

    @Test
    void aChangeInCostsIsFollowed() {
        SpeculationController c = new SpeculationController(true, 2);
        drive(c, 1.0, 1.5, 3000); // drafting cheap
        int[] later = drive(c, 2.0, 1.0, 3000); // then acceptance collapses: drafting twice as dear
        assertEquals(0, later[0], "still drafting after the costs changed");
    }

    /** Returns {last cycle drafted ? 1 : 0, cycles that drafted}. */
    private static int[] run(double specMs, double plainMs, int cycles) {
        return drive(new SpeculationController(true, 2), specMs, plainMs, cycles);
    }

    private static int[] drive(SpeculationController c, double specMs, double plainMs, int cycles) {
        int drafted = 0;
        boolean last = false;
        for (int i = 0; i < cycles; i++) {
            last = c.draft();
            drafted += last ? 1 : 0;
            c.observeCycle(last, last ? specMs : plainMs, 1);
        }
        return new int[] {last ? 1 : 0, drafted};
    }
}
