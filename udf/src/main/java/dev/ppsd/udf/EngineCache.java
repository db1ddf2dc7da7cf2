package dev.ppsd.udf;

import dev.ppsd.engine.settings.EngineOptions;
import dev.ppsd.engine.GenerationEngine;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The per-JVM (per-executor) map from {@link EngineOptions} to the {@link SharedEngine} every task of that JVM
 * uses. An engine is built lazily, by the first task that needs it, under a per-key lock (other keys are not
 * blocked); {@link #builds()} counts builds so tests can check "one engine per executor". An engine whose call
 * failed is evicted: the next task builds a fresh one.
 */
public final class EngineCache {
    private static final Map<EngineOptions, Slot> SLOTS = new ConcurrentHashMap<>();
    private static final Map<EngineOptions, AtomicInteger> BUILDS_BY_KEY = new ConcurrentHashMap<>();
    private static final AtomicInteger BUILDS = new AtomicInteger();

    private EngineCache() {
    }

    /** The shared engine for {@code options}, built on the first call of this JVM. */
    public static SharedEngine get(EngineOptions options) {
        return SLOTS.computeIfAbsent(options, Slot::new).engine();
    }

    /** Leases the shared engine for {@code options}; a lease never returns an evicted engine. */
    public static SharedEngine.Lease lease(EngineOptions options) {
        while (true) {
            Slot slot = SLOTS.computeIfAbsent(options, Slot::new);
            SharedEngine e = slot.engine();
            if (e.tryAcquire()) {
                return new SharedEngine.Lease(e);
            }
            SLOTS.remove(options, slot);
        }
    }

    /** Engines built in this JVM so far. */
    public static int builds() {
        return BUILDS.get();
    }

    /** Engines built in this JVM so far for {@code options}. */
    public static int builds(EngineOptions options) {
        AtomicInteger n = BUILDS_BY_KEY.get(options);
        return n == null ? 0 : n.get();
    }

    /** Drops {@code engine} from the cache (if still there); it closes when its last lease is released. */
    public static void evict(SharedEngine engine) {
        Slot slot = SLOTS.get(engine.options());
        if (slot != null && slot.built == engine) {
            SLOTS.remove(engine.options(), slot);
        }
        engine.evict();
    }

    /** Evicts every engine (each closes once no task uses it). */
    public static void closeAll() {
        List<Slot> slots = new ArrayList<>(SLOTS.values());
        SLOTS.clear();
        for (Slot s : slots) {
            SharedEngine e = s.built;
            if (e != null) {
                e.evict();
            }
        }
    }

    /** One key's engine, built once under the slot's own lock. */
    private static final class Slot {
        private final EngineOptions options;
        private volatile SharedEngine built;

        Slot(EngineOptions options) {
            this.options = options;
        }

        SharedEngine engine() {
            SharedEngine e = built;
            if (e != null) {
                return e;
            }
            synchronized (this) {
                if (built == null) {
                    GenerationEngine engine = GenerationEngine.open(options);
                    int n = BUILDS.incrementAndGet();
                    BUILDS_BY_KEY.computeIfAbsent(options, k -> new AtomicInteger()).incrementAndGet();
                    built = new SharedEngine(options, engine, n);
                }
                return built;
            }
        }
    }
}
