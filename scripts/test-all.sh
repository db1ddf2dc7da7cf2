#!/usr/bin/env bash
# Runs every test of the project, as CI does (.ci/run calls this script): installs what the tests need and a fresh
# machine lacks, then `mvn verify` (unit tests, the notebooks through a real Jupyter, the standalone-cluster and
# launcher integration tests). Needs Java 17, Maven 3.8, Node.js with npm (the tokenizer / chat-template oracle) and
# Debian's apt for the rest (root, or sudo without a password).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export OPT_OUT_TRACKING=true

need=()
command -v jupyter-nbconvert >/dev/null || need+=(jupyter-nbconvert)   # the notebook tests: a real Jupyter
command -v strace >/dev/null || need+=(strace)                         # the embedded job's no-network test
source bin/lib/malloc.sh
[[ -n "$(ppsd_jemalloc)" ]] || need+=(libjemalloc2)                   # the launchers' allocator (bin/lib/malloc.sh)
if ((${#need[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo -n"
  echo "test-all: installing ${need[*]} (apt-get)"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "test-all: node and npm are needed (the tests fetch the official tokenizers with npm)" >&2; exit 1; }

mvn -B -ntp verify "$@"
