#!/usr/bin/env bash
# Stop nodes started by start.sh, by the PIDs it recorded (never by process name).
#
# Usage: engines/elasticsearch/stop.sh [PID_DIR] [NODE_INDEX]
#   PID_DIR     the directory given to start.sh (default: engines/elasticsearch/target/run)
#   NODE_INDEX  stop only node-<NODE_INDEX> (e.g. 2), the others keep running; default: all nodes
# Sends SIGTERM (clean shutdown), waits up to ES_STOP_SECONDS (30), then SIGKILL.
# A PID whose process is not an EsNodeMain JVM (stale file, PID reused) is left alone.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PID_DIR="${1:-${ES_PID_DIR:-$HERE/target/run}}"
ONLY="${2:-}"
WAIT="${ES_STOP_SECONDS:-30}"

if [[ -n "$ONLY" ]]; then files=("$PID_DIR/node-$ONLY.pid"); else files=("$PID_DIR"/node-*.pid); fi

is_our_node() { [[ -r "/proc/$1/cmdline" ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q 'heart.engines.es.EsNodeMain'; }

pids=()
for f in "${files[@]}"; do
  [[ -f "$f" ]] || continue
  pid="$(cat "$f")"
  if [[ "$pid" =~ ^[0-9]+$ ]] && is_our_node "$pid"; then
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid") && echo "stop.sh: stopping $(basename "$f" .pid) (pid $pid)"
  fi
  rm -f "$f"
done

for ((t = 0; t < WAIT * 2; t++)); do
  alive=()
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
  ((${#alive[@]} == 0)) && exit 0
  sleep 0.5
done
for pid in "${alive[@]}"; do
  echo "stop.sh: pid $pid still alive after ${WAIT}s, sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null
done
exit 0
