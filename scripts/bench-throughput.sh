#!/usr/bin/env bash
# Throughput where users run it (docs/benchmarks.md "Throughput in Spark jobs"): prints the figures as Markdown
# tables and keeps every run's JSON in OUT (default target/bench-throughput). Needs `mvn -q -DskipTests package`.
#   1. the job (bin/ppsd-job, embedded Spark) vs the engine (bin/ppsd bench) on the 220 bible prompts, EOS on,
#      batch 8 and 32, modes ar / ar-pipe / ppsd (the default), with the job's peak RSS
#   1b. the same at 880 prompts (the 220 four times): what a job pays once weighs less
#   2. the same job on a random GPT-2-small sized model (bin/ppsd random-model, ~97M parameters, 64 prompts)
#   3. one sequence on that model: ar / ar-pipe / ppsd, whose drafter (the shared head after layer 6) is poor
#   4. shared prefix: 256 prompts sharing a ~200-token prefix, prefix_cache on vs off
# Rounds are interleaved (the machine's noise hits every mode alike); ROUNDS=2 by default. About 45 minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-target/bench-throughput}
rounds=${ROUNDS:-2}
mkdir -p "$out"
export OPT_OUT_TRACKING=true
log() { echo "bench-throughput: $*" >&2; }

job() { # job NAME MODEL INPUT MODE BATCH MAXNEW: one job run, summary and peak RSS (KiB) kept
  local name=$1
  /usr/bin/time -f "%M" -o "$out/$name.rss" bin/ppsd-job --model "$2" --input "$3" --output "$out/$name" \
    --mode "$4" --batch-size "$5" --max-new-tokens "$6" --overwrite >/dev/null 2>"$out/$name.log"
  cp "$out/$name/_SUMMARY.json" "$out/$name.summary.json"
  rm -rf "${out:?}/$name"
}

# --- 1. bundled model, job vs engine ---
for r in $(seq "$rounds"); do
  for b in 8 32; do
    log "round $r batch $b: bench"
    bin/ppsd bench --model models/ppsd-mini --prompts data/prompts/bible.jsonl --limit 220 --max-new-tokens 64 \
      --modes ar,ar-pipe,ppsd --batch-size "$b" --json "$out/bench-mini-b$b-r$r.json" > "$out/bench-mini-b$b-r$r.txt" 2>&1
    for m in ar ar-pipe ppsd; do
      log "round $r batch $b: job $m"
      job "job-mini-$m-b$b-r$r" models/ppsd-mini data/prompts/bible.jsonl "$m" "$b" 64
    done
  done
done

# --- 1b. the same at 4x the rows (880 prompts: the 220 four times, distinct ids): what a job pays once ---
python3 - "$out/bible-880.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open("data/prompts/bible.jsonl")]
with open(sys.argv[1], "w") as f:
    for k in range(4):
        for r in rows:
            f.write(json.dumps({**r, "id": f"{r['id']}-{k}"}) + "\n")
EOF
for r in $(seq "$rounds"); do
  for b in 8 32; do
    log "round $r batch $b: bench, 880 prompts"
    bin/ppsd bench --model models/ppsd-mini --prompts "$out/bible-880.jsonl" --limit 880 --max-new-tokens 64 \
      --modes ar,ar-pipe,ppsd --batch-size "$b" --json "$out/bench-mini880-b$b-r$r.json" > "$out/bench-mini880-b$b-r$r.txt" 2>&1
    for m in ar ar-pipe ppsd; do
      log "round $r batch $b: job $m, 880 prompts"
      job "job-mini880-$m-b$b-r$r" models/ppsd-mini "$out/bible-880.jsonl" "$m" "$b" 64
    done
  done
done

# --- 2./3. random GPT-2-small sized model ---
big=target/models/gpt2-small-random
[ -f "$big/model.safetensors" ] || bin/ppsd random-model --out "$big" >&2
head -n 64 data/prompts/bible.jsonl > "$out/bible-64.jsonl"
for r in $(seq "$rounds"); do
  for b in 8 32; do
    for m in ar ar-pipe ppsd; do
      log "round $r batch $b: job $m on the random model"
      job "job-big-$m-b$b-r$r" "$big" "$out/bible-64.jsonl" "$m" "$b" 32
    done
  done
done
log "one sequence on the random model"
bin/ppsd bench --model "$big" --prompts data/prompts/bible.jsonl --limit 4 --max-new-tokens 48 --ignore-eos \
  --modes ar,ar-pipe,ppsd --batch-size 1 --repeat "$((rounds + 1))" --json "$out/bench-big-b1.json" > "$out/bench-big-b1.txt" 2>&1

# --- 4. shared prefix ---
python3 - "$out/shared-prefix.jsonl" <<'EOF'
import json, sys
lines = [json.loads(l)["prompt"] for l in open("data/prompts/bible.jsonl")]
prefix = "Instructions: continue each verse in the style of the King James Bible. Examples: " + " ".join(lines[100:118])
with open(sys.argv[1], "w") as f:
    for i in range(256):
        f.write(json.dumps({"id": i, "prompt": prefix + " Verse " + str(i) + ": " + lines[i % 100]}) + "\n")
EOF
for r in $(seq "$rounds"); do
  for p in true false; do
    log "round $r: shared prefix, prefix_cache $p"
    bin/ppsd bench --model models/ppsd-mini --prompts "$out/shared-prefix.jsonl" --limit 256 --max-new-tokens 8 \
      --modes ar,ppsd --batch-size 32 --prefix-cache "$p" --json "$out/bench-prefix-$p-r$r.json" \
      > "$out/bench-prefix-$p-r$r.txt" 2>&1
  done
done

python3 - "$out" "$rounds" <<'EOF'
import json, sys, statistics, glob
out, rounds = sys.argv[1], int(sys.argv[2])
def med(xs): return statistics.median(xs)
def bench(path, mode): return json.load(open(path))["modes"][mode]["tokens_per_s"]
def job(name): return json.load(open(f"{out}/{name}.summary.json"))["tokens_per_s"]
def rss(name): return int(open(f"{out}/{name}.rss").read().split()[-1]) / 1024
def job_vs_engine(title, tag):
    print(title + "\n")
    print("| batch | mode | engine (bench) tok/s | job tok/s | job / engine | job vs job ar | job peak RSS MB |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for b in (8, 32):
        jar = med([job(f"job-{tag}-ar-b{b}-r{r}") for r in range(1, rounds + 1)])
        for m in ("ar", "ar-pipe", "ppsd"):
            e = med([bench(f"{out}/bench-{tag}-b{b}-r{r}.json", m) for r in range(1, rounds + 1)])
            j = med([job(f"job-{tag}-{m}-b{b}-r{r}") for r in range(1, rounds + 1)])
            mem = max(rss(f"job-{tag}-{m}-b{b}-r{r}") for r in range(1, rounds + 1))
            print(f"| {b} | {m} | {e:.1f} | {j:.1f} | {j / e:.2f} | {j / jar:.2f} | {mem:.0f} |")
job_vs_engine("### Job vs engine, bundled model, 220 bible prompts, 64 new tokens, EOS on (median of %d rounds)" % rounds,
              "mini")
job_vs_engine("\n### The same with 880 prompts (the 220 four times, so prompts repeat in both), job vs engine", "mini880")
print("\n### Job on the random ~97M-parameter model, 64 prompts, 32 new tokens\n")
print("| batch | job ar tok/s | job ar-pipe tok/s | job ppsd (default) tok/s | ppsd / best plain |")
print("| ---: | ---: | ---: | ---: | ---: |")
for b in (8, 32):
    v = {m: med([job(f"job-big-{m}-b{b}-r{r}") for r in range(1, rounds + 1)]) for m in ("ar", "ar-pipe", "ppsd")}
    print(f"| {b} | {v['ar']:.1f} | {v['ar-pipe']:.1f} | {v['ppsd']:.1f} | {v['ppsd'] / max(v['ar'], v['ar-pipe']):.2f} |")
print("\nWhat `auto` learned in the ppsd jobs on that model (round 1, `speculation` of `_SUMMARY.json`):\n")
for b in (8, 32):
    learned = json.load(open(f"{out}/job-big-ppsd-b{b}-r1.summary.json")).get("speculation") or {}
    for executor, summary in learned.items():
        print(f"- batch {b}: {summary}")
m = json.load(open(f"{out}/bench-big-b1.json"))["modes"]
print("\n### One sequence on the random model (bench, median round)\n")
print("| mode | tok/s | acceptance | vs ar |")
print("| --- | ---: | ---: | ---: |")
for k, v in m.items():
    a = v.get("acceptance")
    print(f"| {k} | {v['tokens_per_s']:.1f} | {'-' if a is None else f'{a:.3f}'} | {v['speedup']:.2f} |")
print("\n### Shared prefix: 256 prompts, batch 32, 8 new tokens (wall of the whole run)\n")
print("| mode | prefix_cache on s | off s | speedup |")
print("| --- | ---: | ---: | ---: |")
for mode in ("ar", "ppsd"):
    on = med([json.load(open(f"{out}/bench-prefix-true-r{r}.json"))["modes"][mode]["wall_ms"] for r in range(1, rounds + 1)])
    off = med([json.load(open(f"{out}/bench-prefix-false-r{r}.json"))["modes"][mode]["wall_ms"] for r in range(1, rounds + 1)])
    print(f"| {mode} | {on / 1000:.2f} | {off / 1000:.2f} | {off / on:.2f} |")
EOF
