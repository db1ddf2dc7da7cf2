package dev.ppsd.udf;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

class RowSeedsTest {
    @Test
    void fnv1a64MatchesTheReferenceValues() {
        assertEquals(0xcbf29ce484222325L, RowSeeds.fnv1a64(""));
        assertEquals(0xaf63dc4c8601ec8cL, RowSeeds.fnv1a64("a"));
        assertEquals(0x85944171f73967e8L, RowSeeds.fnv1a64("foobar"));
    }

    @Test
    void rowSeedIsJobSeedXorHashOfTheId() {
        assertEquals(42L ^ RowSeeds.fnv1a64("7"), RowSeeds.forRow(42, "7"));
        assertEquals(RowSeeds.forRow(42, "7"), RowSeeds.forRow(42, "7"));
        assertNotEquals(RowSeeds.forRow(42, "7"), RowSeeds.forRow(42, "8"));
        assertNotEquals(RowSeeds.forRow(42, "7"), RowSeeds.forRow(43, "7"));
    }
}
