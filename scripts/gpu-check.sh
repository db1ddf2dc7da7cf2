#!/usr/bin/env bash
# The GPU check, for whoever has a machine with 1-2 NVIDIA GPUs (driver for CUDA 12.4 or newer). No GPU machine has
# run it yet: see "What is verified" in README.md. About 10 minutes, plus a 2.4 GB download on the first run.
#   1. builds with -Pgpu: the PyTorch 2.5.1 CUDA 12.4 natives from Maven Central, on the DJL 0.33 line
#   2. GpuTest (fails when DJL sees no GPU): logits on gpu0 = CPU, greedy ppsd on two GPU stages = ar on gpu0 (the
#      bundled model, and a Llama 3 layout model in bfloat16), stages=auto picks the GPUs
#   3. a short bench of ar / ar-pipe / ppsd on the GPUs (report in target/gpu-bench)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export OPT_OUT_TRACKING=true
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: nvidia-smi finds no GPU on this machine" >&2
  exit 2
fi
nvidia-smi -L
gpus=$(nvidia-smi -L | wc -l)
stages=$([ "$gpus" -gt 1 ] && echo gpu0,gpu1 || echo gpu0,gpu0)
start=$(date +%s)
mvn -B -ntp -q -Pgpu -DskipTests install
mvn -B -ntp -Pgpu -pl engine test -Dtest=GpuTest -Dppsd.gpu.required=true -Dsurefire.failIfNoSpecifiedTests=false
bin/ppsd bench --model models/ppsd-mini --prompts data/prompts/bible.jsonl --limit 32 --max-new-tokens 64 \
  --modes ar,ar-pipe,ppsd --stages "$stages" --batch-sizes 1,8 --repeat 2 --report target/gpu-bench
echo "gpu-check: passed on $gpus GPU(s), stages $stages, in $(( $(date +%s) - start )) s; bench report in target/gpu-bench"
