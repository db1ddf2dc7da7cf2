package dev.ppsd.engine.model;

import java.util.Arrays;

/**
 * The Hugging Face architectures the one decoder runs, and what each implies beyond {@code config.json}'s numbers
 * (as transformers builds them):
 * <ul>
 *   <li>{@code LlamaForCausalLM}: {@code attention_bias} puts biases on q, k, v and o; {@code rope_scaling}.</li>
 *   <li>{@code MistralForCausalLM}: as Llama without biases; {@code sliding_window} on every layer.</li>
 *   <li>{@code Qwen2ForCausalLM}: q, k, v always have biases (o never); {@code sliding_window} only with
 *       {@code use_sliding_window}.</li>
 *   <li>{@code Qwen3ForCausalLM}: RMSNorm on each query and key head ({@code q_norm}, {@code k_norm}) before RoPE;
 *       {@code attention_bias} as Llama; sliding window as Qwen2.</li>
 * </ul>
 */
public enum Family {
    LLAMA("LlamaForCausalLM", "llama"),
    /** LayerSkip checkpoints: the Llama layout, trained for early exit. */
    LAYERSKIP_LLAMA("LayerSkipLlamaForCausalLM", "llama"),
    MISTRAL("MistralForCausalLM", "mistral"),
    QWEN2("Qwen2ForCausalLM", "qwen2"),
    QWEN3("Qwen3ForCausalLM", "qwen3");

    private final String architecture;
    private final String modelType;

    Family(String architecture, String modelType) {
        this.architecture = architecture;
        this.modelType = modelType;
    }

    /** The {@code architectures} entry of config.json. */
    public String architecture() {
        return architecture;
    }

    /** The {@code model_type} of config.json. */
    public String modelType() {
        return modelType;
    }

    /** Whether q, k and v have biases whatever the config says (Qwen2). */
    boolean impliesQkvBias() {
        return this == QWEN2;
    }

    /** Whether {@code attention_bias} is read (and then covers q, k, v and o). */
    boolean readsAttentionBias() {
        return this == LLAMA || this == LAYERSKIP_LLAMA || this == QWEN3;
    }

    /** Whether the queries and keys are RMS-normalised per head (Qwen3). */
    boolean hasQkNorm() {
        return this == QWEN3;
    }

    /** Whether {@code sliding_window} is read: always (Mistral) or with {@code use_sliding_window} (Qwen). */
    boolean readsSlidingWindow() {
        return this == MISTRAL || this == QWEN2 || this == QWEN3;
    }

    /** The family of an {@code architectures} entry; IllegalArgumentException naming it otherwise. */
    public static Family of(String architecture) {
        for (Family f : values()) {
            if (f.architecture.equals(architecture)) {
                return f;
            }
        }
        throw new IllegalArgumentException("architectures: '" + architecture + "' is not supported (supported: "
                + String.join(", ", Arrays.stream(values()).map(Family::architecture).toList()) + ")");
    }
}
