package dev.ppsd.engine.schedule;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.ppsd.engine.model.AttentionBatch;
import dev.ppsd.engine.model.ExitHead;
import dev.ppsd.engine.model.LlamaModel;
import dev.ppsd.engine.model.Rope;

import java.util.List;
import java.util.function.UnaryOperator;

/**
 * PPSD's drafter: the exit head after stage 0's block, on stage 0. The entry that just ran stage 0 drafts the next
 * position from its layer-E state (verify-while-draft); a trained head's layer runs on every entry, so its cache
 * holds every position, and its LM head only when an entry of the group drafts.
 */
final class ExitHeadDrafter extends PipelineDrafter {
    private final ExitHead head;

    private ExitHeadDrafter(ExitHead head, Device device, NDManager manager, Rope rope, long prefixBytes,
            DataType type) {
        super(device, manager, head.trained() ? head.stack(rope) : null, prefixBytes, type);
        this.head = head;
    }

    /** The exit head on stage 0's {@code device} (weights copied there, owned by {@code manager}). */
    static ExitHeadDrafter on(ExitHead head, Device device, NDManager manager, Rope rope, long prefixBytes,
            DataType type) {
        return new ExitHeadDrafter(head.onDevice(device, manager), device, manager, rope, prefixBytes, type);
    }

    @Override
    String mode() {
        return "ppsd";
    }

    @Override
    void afterBlock(List<InFlight> group, NDArray h, AttentionBatch a, UnaryOperator<NDArray> lastOfEach) {
        // only the last position of each entry drafts: [B, 1, D]; a trained head's layer runs on every position (its
        // cache must hold them all), its LM head only when an entry of the group drafts
        NDArray state = lastOfEach.apply(head.trained() ? head.advance(h, a, cache()) : h);
        if (group.stream().anyMatch(e -> e.wantDraft)) {
            float[][] rows = LlamaModel.rows(head.project(state));
            for (int r = 0; r < group.size(); r++) {
                group.get(r).draftLogits = rows[r];
            }
        }
        for (InFlight e : group) {
            if (e.tokens.length > 1 && e.end() == e.lane.seq.promptIds().length) {
                savePrefix(e.lane.slot, e.lane.seq.promptIds(), e.end()); // a prompt's prefill
            }
        }
    }
}
