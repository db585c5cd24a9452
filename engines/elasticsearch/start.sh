#!/usr/bin/env bash
# Start a local Elasticsearch 8.18.8 cluster (1 or 3 nodes, one JVM per node) for heart-hub tests and CI.
#
# Usage: engines/elasticsearch/start.sh [N] [PID_DIR]
#   N        number of nodes, 1 (default) or 3
#   PID_DIR  where node-<i>.pid and node-<i>.log are written (default: engines/elasticsearch/target/run)
# Environment (all optional):
#   ES_HTTP_PORT=9250 ES_TRANSPORT_PORT=9350   ports of node 0; node i uses port+i
#   ES_HOME_DIR=<this dir>/target/es-home      node i keeps its data in ES_HOME_DIR/node-i (wiped at start
#                                              unless ES_KEEP_DATA=1)
#   ES_CLUSTER_NAME=heart-hub-test  ES_JAVA_OPTS="-Xms1g -Xmx2g"  ES_WAIT_SECONDS=180  ES_LOG_DIR=PID_DIR
# Builds on first use (mvn; offline once ~/.m2 has the jars), starts the nodes in the background and
# returns once http://127.0.0.1:$ES_HTTP_PORT/_cluster/health reports N nodes and status yellow or green.
# On failure it stops the nodes it started, prints the log tails and exits 1.
# Stop with: engines/elasticsearch/stop.sh [PID_DIR] [NODE_INDEX]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODES="${1:-${ES_NODES:-1}}"
PID_DIR="${2:-${ES_PID_DIR:-$HERE/target/run}}"
LOG_DIR="${ES_LOG_DIR:-$PID_DIR}"
HTTP_PORT="${ES_HTTP_PORT:-9250}"
TRANSPORT_PORT="${ES_TRANSPORT_PORT:-9350}"
HOME_DIR="${ES_HOME_DIR:-$HERE/target/es-home}"
CLUSTER_NAME="${ES_CLUSTER_NAME:-heart-hub-test}"
JAVA_OPTS="${ES_JAVA_OPTS:--Xms1g -Xmx2g}"
WAIT_SECONDS="${ES_WAIT_SECONDS:-180}"

case "$NODES" in 1|3) ;; *) echo "start.sh: N must be 1 or 3, got '$NODES'" >&2; exit 2 ;; esac
mkdir -p "$PID_DIR" "$LOG_DIR" "$HOME_DIR"
PID_DIR="$(cd "$PID_DIR" && pwd)"; LOG_DIR="$(cd "$LOG_DIR" && pwd)"; HOME_DIR="$(cd "$HOME_DIR" && pwd)"

# ---- build (skipped when the classes and classpath are newer than the sources) ----
CLASSPATH_FILE="$HERE/target/classpath.txt"
MAIN_CLASS_FILE="$HERE/target/classes/heart/engines/es/EsNodeMain.class"
needs_build() {
  [[ -s "$CLASSPATH_FILE" && -f "$MAIN_CLASS_FILE" ]] || return 0
  [[ -n "$(find "$HERE/pom.xml" "$HERE/src" -newer "$CLASSPATH_FILE" -print -quit)" ]]
}
if needs_build; then
  echo "start.sh: building the node (mvn) ..."
  mkdir -p "$HERE/target"
  build=(mvn -q -B -f "$HERE/pom.xml" compile dependency:build-classpath "-Dmdep.outputFile=$CLASSPATH_FILE")
  if ! "${build[@]}" -o >"$HERE/target/build.log" 2>&1; then
    "${build[@]}" >"$HERE/target/build.log" 2>&1 || { cat "$HERE/target/build.log" >&2; rm -f "$HERE/target/build.log"; exit 1; }
  fi
  rm -f "$HERE/target/build.log"
  touch "$CLASSPATH_FILE"
fi
CP="$HERE/target/classes:$(cat "$CLASSPATH_FILE")"

# ---- refuse to start over something already listening ----
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for ((i = 0; i < NODES; i++)); do
  for port in $((HTTP_PORT + i)) $((TRANSPORT_PORT + i)); do
    if port_busy "$port"; then
      echo "start.sh: port $port on 127.0.0.1 is already in use (an old node? see stop.sh)" >&2; exit 1
    fi
  done
done

# ---- start one JVM per node ----
STARTED=()
cleanup_on_failure() {
  for pid in "${STARTED[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 3
  for pid in "${STARTED[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for ((i = 0; i < NODES; i++)); do
    rm -f "$PID_DIR/node-$i.pid"
    echo "----- tail of $LOG_DIR/node-$i.log -----" >&2
    tail -n 40 "$LOG_DIR/node-$i.log" >&2 || true
  done
}
T0=$(date +%s%N)
for ((i = 0; i < NODES; i++)); do
  [[ "${ES_KEEP_DATA:-0}" == 1 ]] || rm -rf "$HOME_DIR/node-$i"
  # shellcheck disable=SC2086
  nohup java $JAVA_OPTS -Dfile.encoding=UTF-8 -cp "$CP" heart.engines.es.EsNodeMain \
    "--nodes=$NODES" "--index=$i" "--http-port=$HTTP_PORT" "--transport-port=$TRANSPORT_PORT" \
    "--home=$HOME_DIR" "--cluster=$CLUSTER_NAME" </dev/null >"$LOG_DIR/node-$i.log" 2>&1 &
  STARTED+=("$!")
  echo "$!" >"$PID_DIR/node-$i.pid"
done

# ---- wait until the cluster answers ----
URL="http://127.0.0.1:$HTTP_PORT/_cluster/health?wait_for_status=yellow&wait_for_nodes=$NODES&timeout=5s"
deadline=$(( $(date +%s) + WAIT_SECONDS ))
while :; do
  if body=$(curl -sf --max-time 10 "$URL" 2>/dev/null) && [[ "$body" == *'"timed_out":false'* ]]; then
    break
  fi
  for idx in "${!STARTED[@]}"; do
    if ! kill -0 "${STARTED[$idx]}" 2>/dev/null; then
      echo "start.sh: node-$idx (pid ${STARTED[$idx]}) exited during startup" >&2; cleanup_on_failure; exit 1
    fi
  done
  if (( $(date +%s) >= deadline )); then
    echo "start.sh: cluster not ready after ${WAIT_SECONDS}s" >&2; cleanup_on_failure; exit 1
  fi
  sleep 1
done
T1=$(date +%s%N)
ms=$(( (T1 - T0) / 1000000 ))
printf 'start.sh: %d node(s) ready in %d.%ds: http ports %s; pids %s (pid files in %s)\n' \
  "$NODES" $((ms / 1000)) $((ms % 1000 / 100)) "$(seq -s, "$HTTP_PORT" $((HTTP_PORT + NODES - 1)))" "${STARTED[*]}" "$PID_DIR"
