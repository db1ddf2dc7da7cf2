#!/usr/bin/env bash
# Runs only the Spark standalone-cluster test of spark-job (StandaloneClusterIT): a Master and a Worker on
# 127.0.0.1 started from spark-job/target/spark-lib, the job's -all jar submitted through SparkSubmit, output
# checked row by row, then a driver killed part-way and resumed. `mvn verify` runs it too (failsafe, after
# package); this is the way to run it alone. Logs of every JVM: spark-job/target/it-cluster/logs/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export OPT_OUT_TRACKING=true
mvn -B -ntp -q install -DskipTests -pl engine,udf
mvn -B -ntp -pl spark-job verify -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false -Dit.test=StandaloneClusterIT "$@"
