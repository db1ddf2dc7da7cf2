#!/usr/bin/env python3
"""Writes a float32 Llama model folder (Hugging Face layout, one model.safetensors) in llama2.c's legacy
checkpoint layout, plus a placeholder tokenizer.bin, so that llama2.c's run.c can time a plain single-threaded C
forward on the same weights (docs/benchmarks.md, "A GPT-2-small sized model"). For timing only: llama2.c rotates
interleaved pairs where Hugging Face rotates halves, so its text differs; the work per token is the same.

    scripts/export-llama2c.py MODEL_DIR OUT_DIR
    gcc -Ofast -march=native -o run run.c -lm      # llama2.c's run.c, no OpenMP: one thread
    ./run OUT_DIR/model.bin -z OUT_DIR/tokenizer.bin -t 0 -n 256
"""
import json
import struct
import sys


def main(src, dst):
    cfg = json.load(open(f"{src}/config.json"))
    raw = open(f"{src}/model.safetensors", "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    base = 8 + n

    def tensor(name):
        e = header[name]
        if e["dtype"] != "F32":
            sys.exit(f"export-llama2c: {name} is {e['dtype']}; only float32 checkpoints are exported")
        a, b = e["data_offsets"]
        return raw[base + a:base + b]

    layers, dim, vocab = cfg["num_hidden_layers"], cfg["hidden_size"], cfg["vocab_size"]
    heads, seq = cfg["num_attention_heads"], cfg["max_position_embeddings"]
    if cfg.get("head_dim", dim // heads) != dim // heads:
        sys.exit("export-llama2c: head_dim must be hidden_size / num_attention_heads in llama2.c")
    tied = cfg.get("tie_word_embeddings", False)
    with open(f"{dst}/model.bin", "wb") as f:
        # a negative vocabulary size tells run.c that the classifier is not shared with the embedding
        f.write(struct.pack("7i", dim, cfg["intermediate_size"], layers, heads, cfg["num_key_value_heads"],
                            vocab if tied else -vocab, seq))
        f.write(tensor("model.embed_tokens.weight"))
        for group in (["input_layernorm"], ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                      "self_attn.o_proj"], ["post_attention_layernorm"], ["mlp.gate_proj", "mlp.down_proj",
                      "mlp.up_proj"]):
            for part in group:
                for layer in range(layers):
                    f.write(tensor(f"model.layers.{layer}.{part}.weight"))
        f.write(tensor("model.norm.weight"))
        f.write(bytes(seq * (dim // heads) * 4))  # the unused freq_cis_real/imag of the legacy format
        if not tied:
            f.write(tensor("lm_head.weight"))
    with open(f"{dst}/tokenizer.bin", "wb") as f:
        f.write(struct.pack("i", 8))
        for i in range(vocab):
            piece = (b"<%d>" % i)[:8]
            f.write(struct.pack("fi", 0.0, len(piece)) + piece)
    print(f"export-llama2c: wrote {dst}/model.bin and {dst}/tokenizer.bin")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
