package dev.ppsd.engine.schedule;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.IntPredicate;

import static dev.ppsd.engine.schedule.Schedule.DRAFT;
import static dev.ppsd.engine.schedule.Schedule.AR_PIPE;
import static dev.ppsd.engine.schedule.Schedule.LOCKSTEP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The controller on synthetic costs: each schedule's wall ms per committed token is fixed per test. A lockstep
 * cycle runs one stage for every sequence, so the driver lets it commit every sequence's token once per round of
 * k cycles, as the pipeline does.
 */
class SpeculationControllerTest {
    @Test
    void alwaysDraftsWhenNotAdaptive() {
        SpeculationController c = new SpeculationController(false, 2);
        for (int i = 0; i < 1000; i++) {
            assertEquals(DRAFT, c.next(1));
            c.observeCycle(DRAFT, 10, 1);
        }
    }

    @Test
    void drafting30PercentDearerEndsUpOffWithFewProbes() {
        Run r = drive(new SpeculationController(true, 2), 1, 5000, costs(1.3, 1.0, 1.0));
        // 2 + 16 warm-up cycles, then probes of 2 + 12 cycles 64, 128, 256, 512, 1024, 1024, ... cycles apart
        assertTrue(r.cycles(DRAFT) < 18 + 14 * 8, "drafting cycles: " + r.cycles(DRAFT));
        assertEquals(AR_PIPE, r.last);
    }

    @Test
    void drafting30PercentCheaperStaysOnWithFewProbes() {
        Run r = drive(new SpeculationController(true, 2), 1, 5000, costs(1.0, 1.3, 1.3));
        assertTrue(r.cycles(AR_PIPE) < 14 * 8, "plain cycles: " + r.cycles(AR_PIPE));
    }

    @Test
    void oneSequenceNeverTriesLockStep() {
        // with one sequence lockstep and pipelined are the same cycles: nothing to learn
        Run r = drive(new SpeculationController(true, 2), 1, 5000, costs(1.3, 1.0, 0.5));
        assertEquals(0, r.cycles(LOCKSTEP));
        assertEquals(AR_PIPE, r.last);
    }

    @Test
    void withinTheMarginTheCurrentChoiceIsKept() {
        Run r = drive(new SpeculationController(true, 2), 1, 2000, costs(1.03, 1.0, 1.0)); // 3% apart: no switch
        assertTrue(r.cycles(DRAFT) > 1800, "drafting cycles: " + r.cycles(DRAFT));
    }

    @Test
    void withinTheMarginPlainDecodingIsKept() {
        // back from plain to drafting takes a 5% win: drafting 3% cheaper does not flip the pipeline back
        SpeculationController c = new SpeculationController(true, 2);
        drive(c, 1, 1000, costs(1.3, 1.0, 1.0));
        Run r = drive(c, 1, 2000, costs(0.97, 1.0, 1.0));
        assertEquals(AR_PIPE, c.preferred(1));
        assertTrue(r.cycles(AR_PIPE) > 1800, "plain cycles: " + r.cycles(AR_PIPE));
    }

    @Test
    void noisyCyclesStillEndUpOnTheCheaperSchedule() {
        // each cycle ±15% around its schedule's cost (seeded): drafting 15% dearer ends up off; 15% cheaper stays on
        for (long seed = 1; seed <= 20; seed++) {
            Random noise = new Random(seed);
            TokenCost dearer = costs(1.15, 1.0, 1.0);
            Run off = drive(new SpeculationController(true, 2), 1, 3000,
                    (i, s) -> dearer.ms(i, s) * (0.85 + 0.3 * noise.nextDouble()));
            assertTrue(off.cycles(AR_PIPE) > 2400, "seed " + seed + ": " + off);
            TokenCost cheaper = costs(0.85, 1.0, 1.0);
            Run on = drive(new SpeculationController(true, 2), 1, 3000,
                    (i, s) -> cheaper.ms(i, s) * (0.85 + 0.3 * noise.nextDouble()));
            assertTrue(on.cycles(DRAFT) > 2700, "seed " + seed + ": " + on);
        }
    }

    @Test
    void costsThatGrowOverTheRunDoNotFoolTheComparison() {
        // both schedules get dearer as the context grows (attention); plain stays 20% cheaper at every point.
        // A probe compared with a stale estimate of the other schedule would see drafting as cheaper.
        SpeculationController c = new SpeculationController(true, 2);
        Run r = drive(c, 1, 6000, (i, s) -> (s == DRAFT ? 1.2 : 1.0) * (1 + i / 500.0));
        assertTrue(r.cycles(DRAFT) < 18 + 14 * 9, "drafting cycles: " + r.cycles(DRAFT));
        assertEquals(AR_PIPE, c.preferred(1));
    }

    @Test
    void aChangeInCostsIsFollowed() {
        SpeculationController c = new SpeculationController(true, 2);
        drive(c, 1, 3000, costs(1.0, 1.5, 1.5)); // drafting cheap
        Run later = drive(c, 1, 3000, costs(2.0, 1.0, 1.0)); // then acceptance collapses: drafting twice as dear
        assertEquals(AR_PIPE, later.last, "still drafting after the costs changed");
    }

    @Test
    void manySequencesLearnPipelinedWhenDraftingIsDearerAndThenProbeBriefly() {
        // 32 sequences: drafting first; the other two 30-50% dearer cost only short probes (4 measured + 2)
        SpeculationController c = new SpeculationController(true, 2);
        Run first = drive(c, 32, 100, costs(1.5, 1.0, 1.3));
        assertEquals(AR_PIPE, c.preferred(32));
        assertTrue(first.cycles(DRAFT) < 16 + 2 + 2 * 6 + 8 + 2, "drafting cycles: " + first);
        Run r = drive(c, 32, 2000, costs(1.5, 1.0, 1.3));
        assertEquals(AR_PIPE, r.last);
        assertTrue(r.cycles(DRAFT) + r.cycles(LOCKSTEP) <= 8 * 6, "probe cycles: " + r);
    }

    @Test
    void aProbeTwiceAsDearEndsAfterItsFirstRound() {
        // 32 sequences on a CPU bound by arithmetic: lockstep and drafting cost twice ar-pipe per token; each probe
        // then runs its k transition cycles and one measured round of k cycles, not the 4 measured cycles of a short probe
        SpeculationController c = new SpeculationController(true, 2);
        drive(c, 32, 200, costs(2.0, 1.0, 2.0));
        Run r = drive(c, 32, 3000, costs(2.0, 1.0, 2.0));
        assertEquals(AR_PIPE, r.last);
        assertTrue(r.runs(DRAFT).size() + r.runs(LOCKSTEP).size() >= 2, r.toString());
        assertEquals(List.of(4), r.runs(DRAFT).stream().distinct().toList(), r.toString());
        assertEquals(List.of(4), r.runs(LOCKSTEP).stream().distinct().toList(), r.toString());
        // a probe dearer by less runs its whole length: 2 transition + 4 measured cycles
        SpeculationController within = new SpeculationController(true, 2);
        drive(within, 32, 200, costs(1.2, 1.0, 1.2));
        Run w = drive(within, 32, 3000, costs(1.2, 1.0, 1.2));
        assertEquals(List.of(6), w.runs(LOCKSTEP).stream().distinct().toList(), w.toString());
    }

    @Test
    void manySequencesKeepDraftingWhenDraftingIsCheaper() {
        // a device that runs more rows per step nearly for free: drafting wins with many sequences too
        Run r = drive(new SpeculationController(true, 2), 32, 2000, costs(0.7, 1.0, 1.2));
        assertEquals(DRAFT, r.last);
        assertTrue(r.cycles(DRAFT) > 2000 - 8 * 6, "plain cycles: " + r);
    }

    @Test
    void lockStepWinsWhereOneStageWithAllRowsIsCheaper() {
        // a CPU short of memory bandwidth: one stage with 32 rows beats two stages with 16 each at once
        SpeculationController c = new SpeculationController(true, 2);
        Run r = drive(c, 32, 2000, costs(1.3, 1.0, 0.8));
        assertEquals(LOCKSTEP, c.preferred(32));
        assertTrue(r.cycles(LOCKSTEP) > 1800, "lockstep cycles: " + r);
    }

    @Test
    void aLockStepProbeCoversWholeRounds() {
        // k = 3: a round is one cycle that commits every row (and is free here) and two that commit nothing
        // (0.75 ms per row): 1.5 ms per token, against 1.0 pipelined and 1.5 drafting. A 4-cycle probe holding two commits
        // would measure 0.75 and, confirmed, switch to lockstep for 64 cycles or more.
        SpeculationController c = new SpeculationController(true, 3);
        Run r = drive(c, 32, 3000, n -> n % 3 == 0, (i, s, n) -> s == DRAFT ? 48.0 : s == AR_PIPE ? 32.0 : n % 3 == 0 ? 0.0 : 24.0);
        assertEquals(AR_PIPE, c.preferred(32));
        assertTrue(r.cycles(LOCKSTEP) < 60, "lockstep cycles: " + r);
    }

    @Test
    void eachOccupancyKeepsWhatItLearned() {
        SpeculationController c = new SpeculationController(true, 2);
        // one sequence: drafting cheaper (it is the prior; a probe confirms it)
        drive(c, 1, 500, costs(1.0, 1.8, 1.8));
        // 32 sequences start drafting and learn lockstep; then 4 keep drafting (no class below learned plain)
        drive(c, 32, 500, costs(1.3, 1.0, 0.7));
        drive(c, 4, 500, costs(0.8, 1.0, 1.2));
        assertEquals(DRAFT, c.preferred(1));
        assertEquals(LOCKSTEP, c.preferred(32));
        assertEquals(DRAFT, c.preferred(4));
        // back to one sequence: drafts at once, without a new warm-up
        Run again = drive(c, 1, 20, costs(1.0, 1.8, 1.8));
        assertEquals(20, again.cycles(DRAFT));
    }

    @Test
    void aNewOccupancyStartsFromWhatItsNeighboursLearned() {
        SpeculationController fresh = new SpeculationController(true, 2);
        assertEquals(DRAFT, fresh.preferred(1)); // with nothing learned, every class starts drafting
        assertEquals(DRAFT, fresh.preferred(64));
        // 2 sequences learn lockstep: more sequences start there
        SpeculationController c = new SpeculationController(true, 2);
        drive(c, 2, 1000, costs(1.3, 1.2, 1.0));
        assertEquals(LOCKSTEP, c.preferred(2));
        assertEquals(LOCKSTEP, c.preferred(64));
        Run r = drive(c, 64, 10, costs(1.3, 1.2, 1.0));
        assertEquals(10, r.cycles(LOCKSTEP));
        assertEquals(DRAFT, c.preferred(1), "a class with fewer sequences keeps its start");
        // then 16 sequences learn to draft after all. 8 sequences: drafting at 16 says drafting at 8 (closer than
        // 2-3); 4 sequences: lockstep at 2-3 is nearer. 32: drafting at 16 says nothing about more sequences,
        // lockstep at 2-3 does
        drive(c, 16, 1000, costs(0.7, 1.0, 1.2));
        assertEquals(DRAFT, c.preferred(16));
        assertEquals(DRAFT, c.preferred(8));
        assertEquals(LOCKSTEP, c.preferred(4));
        assertEquals(LOCKSTEP, c.preferred(32));
    }

    @Test
    void aPoorDrafterMakesNewOccupanciesStartPlain() {
        SpeculationController c = new SpeculationController(true, 2);
        c.observeDrafts(1, 10); // 11 verdicts: too few to say
        assertEquals(DRAFT, c.preferred(32));
        c.observeDrafts(1, 27); // 3 of 40 accepted
        assertEquals(AR_PIPE, c.preferred(32));
        Run r = drive(c, 32, 60, costs(1.3, 1.0, 1.2)); // and probes first after 64 cycles, not 16
        assertEquals(60, r.cycles(AR_PIPE), r.toString());
        // a class that started drafting before any draft was verified starts over once the acceptance is known
        SpeculationController early = new SpeculationController(true, 2);
        assertEquals(5, drive(early, 32, 5, costs(1.3, 1.0, 1.2)).cycles(DRAFT));
        early.observeDrafts(2, 30);
        Run after = drive(early, 32, 60, costs(1.3, 1.0, 1.2));
        assertEquals(60, after.cycles(AR_PIPE), after.toString());
        // also when its first probe is under way (one sequence: the probe starts after 16 measured cycles)
        SpeculationController probing = new SpeculationController(true, 2);
        drive(probing, 1, 20, costs(1.3, 1.0, 1.0));
        probing.observeDrafts(1, 15);
        Run plain = drive(probing, 1, 60, costs(1.3, 1.0, 1.0));
        assertEquals(60, plain.cycles(AR_PIPE), plain.toString());
        // and after probes that did not move it; but not a class that switched to drafting on its measurements
        SpeculationController even = new SpeculationController(true, 2);
        drive(even, 1, 300, costs(1.0, 1.0, 1.0));
        even.observeDrafts(1, 20);
        assertEquals(60, drive(even, 1, 60, costs(1.0, 1.0, 1.0)).cycles(AR_PIPE));
        SpeculationController switched = new SpeculationController(true, 2);
        drive(switched, 1, 1000, costs(1.3, 1.0, 1.0));
        drive(switched, 1, 2000, costs(0.7, 1.0, 1.0));
        assertEquals(DRAFT, switched.preferred(1));
        switched.observeDrafts(1, 20);
        assertEquals(DRAFT, drive(switched, 1, 10, costs(0.7, 1.0, 1.0)).last);
        SpeculationController good = new SpeculationController(true, 2);
        good.observeDrafts(30, 10);
        assertEquals(DRAFT, good.preferred(32));
        // what a class learned outweighs the acceptance: 16 sequences measured drafting cheaper, 8 start there
        SpeculationController learned = new SpeculationController(true, 2);
        drive(learned, 16, 1000, costs(0.8, 1.0, 1.2));
        learned.observeDrafts(1, 39);
        assertEquals(DRAFT, learned.preferred(8));
    }

    @Test
    void aPoorDraftersFirstProbeIsAPlainSchedule() {
        // 32 sequences, 3 of 40 drafts accepted: ar-pipe from the start, and its first probe (after 64 cycles) is
        // lockstep; drafting comes in turn at the next probe
        SpeculationController c = new SpeculationController(true, 2);
        c.observeDrafts(3, 37);
        Run r = drive(c, 32, 100, costs(2.0, 1.0, 1.3));
        assertEquals(0, r.cycles(DRAFT), r.toString());
        assertTrue(r.cycles(LOCKSTEP) > 0, r.toString());
        Run later = drive(c, 32, 400, costs(2.0, 1.0, 1.3));
        assertTrue(later.cycles(DRAFT) > 0, later.toString());
        assertEquals(AR_PIPE, later.last);
        // one sequence has no lockstep: its first probe drafts
        SpeculationController one = new SpeculationController(true, 2);
        one.observeDrafts(3, 37);
        assertTrue(drive(one, 1, 100, costs(2.0, 1.0, 1.0)).cycles(DRAFT) > 0);
    }

    @Test
    void theSummaryNamesEachOccupancyAndItsChoice() {
        SpeculationController c = new SpeculationController(true, 2);
        assertEquals(null, c.summary());
        drive(c, 1, 100, costs(1.0, 1.8, 1.8));
        drive(c, 32, 100, costs(1.5, 1.0, 1.3));
        drive(c, 8, 500, costs(1.5, 1.0, 0.5));
        String s = c.summary();
        assertTrue(s.startsWith("1 seq: draft ("), s);
        assertTrue(s.contains("; 8-15 seqs: lockstep ("), s);
        assertTrue(s.contains("% lockstep, "), s);
        assertTrue(s.contains("; 32-63 seqs: ar-pipe ("), s);
        assertEquals(null, new SpeculationController(false, 2).summary());
    }

    @Test
    void whatACycleCostsIsMeasuredWithoutItsPrefills() {
        // the slowest stage without its prefill sets the cycle time; the coordinator's 2 ms stay
        assertEquals(5.0, PipelineStats.withoutPrefills(10, new double[] {8, 3}, new double[] {6, 0}), 1e-9);
        assertEquals(9.0, PipelineStats.withoutPrefills(10, new double[] {8, 7}, new double[] {6, 0}), 1e-9);
        assertEquals(10.0, PipelineStats.withoutPrefills(10, new double[] {8, 7}, new double[] {0, 0}), 1e-9);
    }

    /**
     * A lockstep probe that comes just after ar-pipe's cycles got cheaper (rows end and enter in waves) is measured
     * against its decayed past, which still costs more than lockstep; it wins once, but not against the fresh ar-pipe
     * cycles before its confirmation, so the class stays on ar-pipe.
     */
    @Test
    void aProbeIsConfirmedAgainstThePreferredSchedulesPresentCost() {
        int active = 8;
        // where the first lockstep probe comes with costs that never change (drafting dear: ar-pipe preferred)
        SpeculationController calibration = new SpeculationController(true, 2);
        int[] at = {-1};
        drive(calibration, active, 400, n -> n % 2 == 1, (i, s, n) -> {
            if (s == LOCKSTEP && at[0] < 0) {
                at[0] = i;
            }
            return active * (s == DRAFT ? 2.0 : s == AR_PIPE ? 1.0 : 1.1) / (s == LOCKSTEP ? 2 : 1);
        });
        assertTrue(at[0] > 0, "no lockstep probe");
        // the same, with ar-pipe 40% dearer until just before that probe
        int cheaperFrom = at[0] - 4;
        SpeculationController c = new SpeculationController(true, 2);
        Run r = drive(c, active, 400, n -> n % 2 == 1, (i, s, n) -> active
                * (s == DRAFT ? 2.0 : s == AR_PIPE ? (i < cheaperFrom ? 1.4 : 1.0) : 1.1) / (s == LOCKSTEP ? 2 : 1));
        assertEquals(AR_PIPE, c.preferred(active), r.toString());
        assertTrue(r.cycles(LOCKSTEP) <= 3 * SpeculationController.PROBE_CYCLES, r.toString());
    }

    /** Per-token costs (ms per committed token) of the three schedules. */
    private static TokenCost costs(double draft, double pipe, double serial) {
        return (i, s) -> s == DRAFT ? draft : s == AR_PIPE ? pipe : serial;
    }

    /**
     * {@code active} sequences on k = 2 stages; a drafting or pipelined cycle commits one token per sequence, a
     * lockstep round of two cycles one per sequence in its second cycle; each cycle costs its share of the
     * tokens of its round at the schedule's cost per token.
     */
    private static Run drive(SpeculationController c, int active, int cycles, TokenCost cost) {
        return drive(c, active, cycles, n -> n % 2 == 1,
                (i, s, n) -> active * cost.ms(i, s) / (s == LOCKSTEP ? 2 : 1));
    }

    /**
     * {@code lockStepCommits(n)}: whether the n-th lockstep cycle in a row (from 0) commits every sequence's
     * token; {@code cycleMs(i, schedule, n)}: what cycle i costs, n cycles after its schedule last changed.
     */
    private static Run drive(SpeculationController c, int active, int cycles, IntPredicate lockStepCommits,
            CycleMs cycleMs) {
        Run r = new Run();
        int n = 0;
        for (int i = 0; i < cycles; i++) {
            Schedule s = c.next(active);
            n = s == r.last ? n + 1 : 0;
            List<Integer> lengths = r.runs.get(s);
            if (n == 0 && i > 0) {
                lengths.add(1); // a run of s starts within this drive
            } else if (i - n > 0) { // the run started within this drive
                lengths.set(lengths.size() - 1, n + 1);
            }
            r.last = s;
            r.counts[s.ordinal()]++;
            boolean commit = s != LOCKSTEP || lockStepCommits.test(n);
            c.observeCycle(s, cycleMs.ms(i, s, n), commit ? active : 0);
        }
        List<Integer> open = r.runs.get(r.last);
        if (n < cycles - 1) {
            open.remove(open.size() - 1); // the last run may go on after the drive: its length is not known
        }
        return r;
    }

    /** What a driven run did: cycles per schedule and the last cycle's schedule. */
    private static final class Run {
        final int[] counts = new int[Schedule.values().length];
        /** Per schedule, how many cycles in a row it ran each time it started and ended within the drive. */
        final Map<Schedule, List<Integer>> runs = new EnumMap<>(Schedule.class);
        Schedule last;

        Run() {
            for (Schedule s : Schedule.values()) {
                runs.put(s, new ArrayList<>());
            }
        }

        int cycles(Schedule s) {
            return counts[s.ordinal()];
        }

        List<Integer> runs(Schedule s) {
            return runs.get(s);
        }

        @Override
        public String toString() {
            return "draft " + cycles(DRAFT) + ", pipelined " + cycles(AR_PIPE) + ", lockstep " + cycles(LOCKSTEP)
                    + ", last " + last + ", runs " + runs;
        }
    }

    private interface TokenCost {
        double ms(int i, Schedule s);
    }

    private interface CycleMs {
        double ms(int i, Schedule s, int n);
    }
}
