# Sourced by bin/ppsd and bin/ppsd-job: the C allocator their JVM (and libtorch in it) runs with, by PPSD_MALLOC:
#   auto (default)  jemalloc when the system has it (Debian/Ubuntu: apt-get install libjemalloc2), else the system's;
#                   an LD_PRELOAD already set is left as it is
#   system          the system's (glibc's malloc)
#   /path/lib.so    that library (e.g. tcmalloc's), preloaded before any LD_PRELOAD already set
# Why: libtorch allocates every temporary 64-byte aligned, which glibc serves on its slow memalign path, and a
# decoding step makes hundreds of them. With jemalloc the bundled model's single-sequence `ar` ran 1.10x as fast and
# its job 1.11x at batch 32 (medians of paired rounds; the 97M model unchanged; docs/benchmarks.md "jemalloc").
# On a cluster, the executors' environment is Spark's:
# --conf spark.executorEnv.LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2

# ppsd_jemalloc: prints the path of the system's libjemalloc.so.2, nothing when it has none (also what
# scripts/test-all.sh asks before it installs Debian's libjemalloc2).
ppsd_jemalloc() {
  local lib dir
  lib=$( { /sbin/ldconfig -p || ldconfig -p; } 2>/dev/null \
    | awk '$1 == "libjemalloc.so.2" {print $NF; exit}' || true)
  if [[ -z "$lib" ]]; then # not in ldconfig's cache: where Debian, Ubuntu, Fedora or a source build put it
    for dir in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib; do
      if [[ -f "$dir/libjemalloc.so.2" ]]; then
        lib="$dir/libjemalloc.so.2"
        break
      fi
    done
  fi
  if [[ -n "$lib" ]]; then
    echo "$lib"
  fi
}

# ppsd_preload_malloc NAME: exports LD_PRELOAD as PPSD_MALLOC says; a PPSD_MALLOC that is not auto, system or a file
# is one line naming it on stderr and exit 2 (NAME: the launcher's name, for the message).
ppsd_preload_malloc() {
  local want="${PPSD_MALLOC:-auto}" lib
  case "$want" in
    system) ;;
    auto)
      [[ -z "${LD_PRELOAD:-}" ]] || return 0
      lib=$(ppsd_jemalloc)
      if [[ -n "$lib" ]]; then
        export LD_PRELOAD="$lib"
      fi
      ;;
    *)
      if [[ ! -f "$want" ]]; then
        echo "$1: PPSD_MALLOC: no such library: $want (auto, system, or the path of a malloc library" \
          "such as libjemalloc.so.2)" >&2
        exit 2
      fi
      export LD_PRELOAD="$want${LD_PRELOAD:+:$LD_PRELOAD}"
      ;;
  esac
}
