package dev.ppsd.engine.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Float32 scalar tensors, one per (device, value), made once and shared for the life of the JVM. An op with a
 * Java number ({@code x.add(1e-5f)}) makes and frees a scalar tensor on every call, which on CPU costs about
 * as much again as the op itself (an add of 256 floats: 5 µs with a scalar tensor, 11 µs with a number); the layer's
 * constants (RMSNorm's eps, the attention scale) come from here instead. Same values, same results.
 */
final class Scalars {
    private static final Map<Device, NDManager> MANAGERS = new ConcurrentHashMap<>();
    private static final Map<Key, NDArray> VALUES = new ConcurrentHashMap<>();

    private record Key(Device device, float value) {
    }

    private Scalars() {
    }

    /** The scalar {@code value} on {@code device} (not owned by any scope: never close it). */
    static NDArray of(Device device, float value) {
        return VALUES.computeIfAbsent(new Key(device, value), k -> {
            NDArray a = MANAGERS.computeIfAbsent(device, NDManager::newBaseManager).create(value);
            NDScope.unregister(a); // made inside some step's scope, it must outlive it
            return a;
        });
    }
}
