#!/usr/bin/env bash
# Single-thread `ar` at batch 1 against a plain C forward on the same weights (docs/benchmarks.md, "A GPT-2-small
# sized model"): llama2.c's run.c, built with gcc -Ofast -march=native (no OpenMP: one thread), on the bundled model
# and on the random GPT-2-small sized model (bin/ppsd random-model), ROUNDS interleaved rounds (default 3).
# Both run pinned to the same CPU (taskset), once on each of CPUS (default: every CPU the machine has): the vCPUs of a
# VM can run at very different speeds (on the project's 2-core VM one ran a spin loop at 55% of the other's), and an
# unpinned run lands wherever the scheduler puts it.
# Needs `mvn -q -DskipTests package` and llama2.c's run.c (github.com/karpathy/llama2.c, tested at 350e04f):
#   RUN_C=/path/to/llama2.c/run.c scripts/bench-c-forward.sh            (one round of each per figure)
#   RUN_C=/path/to/llama2.c/run.c REPEAT=3 scripts/bench-c-forward.sh   (each figure the median of 3)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${RUN_C:?set RUN_C to the run.c of llama2.c}"
out=target/bench-c-forward
rounds=${ROUNDS:-3}
repeat=${REPEAT:-1} # REPEAT=3: each figure the median of 3 (the bench's interleaved rounds; 3 runs of llama2.c)
mkdir -p "$out/mini" "$out/big"
export OPT_OUT_TRACKING=true
gcc -Ofast -march=native -o "$out/run" "$RUN_C" -lm
big=target/models/gpt2-small-random
[ -f "$big/model.safetensors" ] || bin/ppsd random-model --out "$big" >&2
scripts/export-llama2c.py models/ppsd-mini "$out/mini" >&2
scripts/export-llama2c.py "$big" "$out/big" >&2
cpus=${CPUS:-$(seq -s ' ' 0 $(( $(nproc) - 1 )))}
# ratio: our tokens/s over the whole requests (prefills included) against llama2.c's; decode ratio: ours from the time
# per output token after the first (1000 / tpot_ms), as llama2.c times itself (its steps after the first)
echo "| round | CPU | model | ppsd ar tok/s | ppsd ar decode tok/s | llama2.c tok/s | ratio | decode ratio |"
echo "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"
for r in $(seq "$rounds"); do
  for cpu in $cpus; do
    for m in mini big; do
      model=$([ "$m" = mini ] && echo models/ppsd-mini || echo "$big")
      taskset -c "$cpu" bin/ppsd bench --model "$model" --prompts data/prompts/bible.jsonl --limit 4 \
        --max-new-tokens 64 --ignore-eos --modes ar --batch-size 1 --repeat "$repeat" \
        --json "$out/ar-$m-$r-cpu$cpu.json" > "$out/ar-$m-$r-cpu$cpu.txt" 2>&1
      ours=$(python3 -c "import json,sys; a = json.load(open(sys.argv[1]))['modes']['ar']; print(a['tokens_per_s'], 1000 / a['tpot_ms'])" \
        "$out/ar-$m-$r-cpu$cpu.json")
      # 80 steps from BOS: positions like the bench's (prompts of ~12 tokens + 64 new)
      # the median of REPEAT runs, as the bench reports the median of its REPEAT rounds
      c=$(for i in $(seq "$repeat"); do taskset -c "$cpu" "$out/run" "$out/$m/model.bin" -z "$out/$m/tokenizer.bin" \
        -t 0 -n 80 2>&1 | sed -n 's/.*achieved tok\/s: \([0-9.]*\).*/\1/p'; done | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
      python3 -c "import sys; o, d = map(float, sys.argv[4].split()); c = float(sys.argv[5]); print(f'| {sys.argv[1]} | {sys.argv[2]} | {sys.argv[3]} | {o:.1f} | {d:.1f} | {c:.1f} | {o / c:.2f} | {d / c:.2f} |')" \
        "$r" "$cpu" "$m" "$ours" "$c"
    done
  done
done
