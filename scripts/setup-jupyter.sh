#!/usr/bin/env bash
# Installs the `ppsd-java` Jupyter kernel of this checkout: JShell in a JVM whose classpath holds the engine, the
# udf module and Spark (see notebooks/README.md).
#
#   scripts/setup-jupyter.sh              kernelspec into notebooks/target/jupyter; then run Jupyter with
#                                         JUPYTER_PATH=notebooks/target/jupyter
#   scripts/setup-jupyter.sh --user       kernelspec into your own Jupyter's data dir (`jupyter --data-dir`)
#   scripts/setup-jupyter.sh DIR          kernelspec into DIR/kernels/ppsd-java
#   --no-build                            use the jars already built (skip the Maven build)
#
# The kernelspec holds absolute paths into this checkout and ~/.m2: run it again after moving the checkout or
# changing dependencies. Needs Java 17 and Maven; Jupyter itself is only needed to use the kernel.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
build=1
dest="$here/notebooks/target/jupyter"
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --user)
      command -v jupyter >/dev/null || { echo "setup-jupyter: jupyter not found (needed for --user)" >&2; exit 2; }
      dest="$(jupyter --data-dir)" ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "setup-jupyter: unknown option $arg" >&2; exit 2 ;;
    *) dest="$arg" ;;
  esac
done

if [[ $build == 1 ]]; then
  if grep -q '<module>notebooks</module>' pom.xml; then
    mvn -B -q -ntp -DskipTests package -pl notebooks -am
  else
    # notebooks/ is not a module of the root build yet: install what it depends on, then build it on its own
    mvn -B -q -ntp -DskipTests install -pl engine,udf -am
    mvn -B -q -ntp -DskipTests package -f notebooks/pom.xml
  fi
fi
target="$here/notebooks/target"
if [[ ! -f "$target/kernel-classpath.txt" || ! -d "$target/classes" ]]; then
  echo "setup-jupyter: notebooks/ is not built: run without --no-build" >&2
  exit 3
fi
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
"$java" -cp "$target/classes:$(cat "$target/kernel-classpath.txt")" dev.ppsd.notebooks.kernel.KernelSpec "$dest"
if [[ "$dest" == "$here/notebooks/target/jupyter" ]]; then
  echo "use it with: JUPYTER_PATH=$dest jupyter lab notebooks/   (or jupyter notebook, or nbconvert --execute)"
fi
