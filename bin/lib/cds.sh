# Sourced by bin/ppsd-job: class data sharing (CDS) for its JVM, by PPSD_CDS:
#   auto (default)  the JVM maps the archive of the classes the job loads (Spark's, Hadoop's, DJL's, the job's)
#                   that `mvn package` recorded, PPSD_CDS_ARCHIVE (default spark-job/target/ppsd-job.jsa), when
#                   there is one; a JVM that cannot use it (another JDK, jars rebuilt since) loads every class from
#                   the jars, as without it, and says nothing
#   off             no archive
#   record          runs the job and, when it ends with exit code 0, writes the archive of the classes it loaded
#                   (what `mvn package` does on the bundled sample; do it again after changing the JDK)
# Why: an embedded job loads some 18,700 classes from the jars and verifies them before it generates anything. From
# the archive the 220-prompt job took 6.1-8.6 s instead of 8.3-12.1 (12 paired rounds, median 0.69 of the time), the
# generation level (docs/benchmarks.md "Class data sharing"); peak RSS 905-1061 MB with it, 727-1056 MB without.
# Spark's executors on a cluster start their own JVMs: this is the launcher's only.
# Not with a Java agent or Flight Recorder from the JVM's start (-javaagent, -agentlib, -agentpath,
# -XX:StartFlightRecording in the launcher's arguments, PPSD_JAVA_OPTS, JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS or
# _JAVA_OPTIONS): JDK 17's JVM crashes when a class-file load hook meets an archived class of a multi-release jar
# (JDK-8343427, not fixed in JDK 17.0.15; it crashed here with a one-line transformer agent and with
# -XX:StartFlightRecording), so auto then runs without the archive. An agent attached later is not seen (jcmd
# JFR.start on a running job did not crash here): use PPSD_CDS=off for that.

# ppsd_class_hooks ARGS...: whether the JVM would start with a Java agent or Flight Recorder (above)
ppsd_class_hooks() {
  local a env_opts=()
  # (read -a splits the variables' options without expanding a * in them)
  read -r -a env_opts <<< "${JAVA_TOOL_OPTIONS:-} ${JDK_JAVA_OPTIONS:-} ${_JAVA_OPTIONS:-}"
  for a in "$@" ${env_opts[@]+"${env_opts[@]}"}; do
    case "$a" in
      -javaagent:*|-agentlib:*|-agentpath:*|-XX:StartFlightRecording*) return 0 ;;
    esac
  done
  return 1
}

# ppsd_exec_java NAME ARCHIVE JAVA ARGS...: runs JAVA ARGS... with the class-data options PPSD_CDS asks for (before
# ARGS, so that a PPSD_JAVA_OPTS among them can override them) and exits with its exit code; NAME (the launcher's)
# names a bad PPSD_CDS in its one line, exit 2. ARCHIVE: the default archive (PPSD_CDS_ARCHIVE overrides it).
ppsd_exec_java() {
  local name=$1 archive=${PPSD_CDS_ARCHIVE:-$2} java=$3
  shift 3
  # -Xlog:cds*=off: the JVM's warnings about an archive it cannot use, or classes it cannot archive, would go to
  # stdout, into the job's summary
  case "${PPSD_CDS:-auto}" in
    auto)
      if [[ -f "$archive" ]] && ! ppsd_class_hooks "$@"; then
        exec "$java" -XX:SharedArchiveFile="$archive" -Xlog:cds*=off "$@"
      fi
      exec "$java" "$@"
      ;;
    off)
      exec "$java" "$@"
      ;;
    record)
      local tmp="$archive.$$.tmp" code=0
      mkdir -p "$(dirname "$archive")"
      "$java" -XX:ArchiveClassesAtExit="$tmp" -Xlog:cds*=off "$@" || code=$?
      if [[ $code -eq 0 && -s "$tmp" ]]; then
        mv -f "$tmp" "$archive"
      else
        rm -f "$tmp"
      fi
      exit $code
      ;;
    *)
      echo "$name: PPSD_CDS must be auto, off or record, not: $PPSD_CDS" >&2
      exit 2
      ;;
  esac
}
