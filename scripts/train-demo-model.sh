#!/usr/bin/env bash
# Reproduces models/ppsd-mini from scratch: corpus -> split -> tokenizer -> base model -> exit heads -> SPD head
# -> eval.
# Needs a built engine (mvn -q -DskipTests package) and ~1 h on 2 cores. Seeds are fixed; see
# models/ppsd-mini/README.md for the figures of the shipped run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-target/train/ppsd-mini}"
export PPSD_THREADS="${PPSD_THREADS:-2}"

scripts/fetch-corpus.sh
java -cp "tools/target/classes:tools/target/lib/*" dev.ppsd.tools.train.CorpusSplit target/corpus data/prompts
bin/ppsd train-tokenizer --corpus target/corpus/train-bible.txt --corpus target/corpus/train-code.txt \
  --vocab 4096 --out target/tokenizer-4096/tokenizer.json
bin/ppsd train --corpus target/corpus/train-bible.txt --corpus target/corpus/train-code.txt \
  --tokenizer target/tokenizer-4096/tokenizer.json --out "$OUT" \
  --layers 8 --hidden 256 --intermediate 704 --heads 8 --kv-heads 4 --vocab 4096 --max-pos 512 \
  --steps 2600 --batch 16 --seq-len 128 --lr 2e-3 --min-lr 2e-4 --warmup 100 --seed 1 \
  --checkpoint-every 100 --early-exit-layers 4 --early-exit-weight 0.25 --time-limit-min 45
rm -rf "$OUT/checkpoint"
# trained exit heads: E = N/2 (the default, in exit_head/) and E = N/4 (for the report)
bin/ppsd distill-exit-head --model "$OUT" --corpus target/corpus/train-bible.txt \
  --corpus target/corpus/train-code.txt --exit-layer 4 --out "$OUT/exit_head" --steps 500 --seed 2
bin/ppsd distill-exit-head --model "$OUT" --corpus target/corpus/train-bible.txt \
  --corpus target/corpus/train-code.txt --exit-layer 2 --out "$OUT/exit_head_e2" --steps 500 --seed 3
# the SPD head of --mode spd (2 stages; split, host stage and anchors from the cost model), in spd_head/
bin/ppsd distill-spd-head --model "$OUT" --corpus target/corpus/train-bible.txt \
  --corpus target/corpus/train-code.txt --steps 500 --seed 4
bin/ppsd eval --model "$OUT" --heldout target/corpus/heldout-bible.txt --heldout target/corpus/heldout-code.txt \
  --train target/corpus/train-bible.txt --train target/corpus/train-code.txt \
  --exit-head "$OUT/exit_head" --exit-head "$OUT/exit_head_e2" --spd-head "$OUT/spd_head" --windows 64 \
  --json "$OUT/eval.json"
