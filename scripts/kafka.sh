#!/usr/bin/env bash
# Real Apache Kafka (KRaft, one combined broker+controller on loopback) for
# SalesPulse tests. Kafka comes from Maven Central via deploy/kafka/pom.xml;
# no tarball, no docker.
#
#   scripts/kafka.sh fetch     resolve Kafka with Maven, write the classpath file
#   scripts/kafka.sh start     fresh broker: wipe + format data dir, start, wait until it answers
#   scripts/kafka.sh stop      SIGTERM, then SIGKILL after KAFKA_STOP_TIMEOUT; idempotent
#   scripts/kafka.sh restart   stop, start again on the same data dir (no reformat; the
#                              controller port it was formatted with unless one is given)
#   scripts/kafka.sh status    exit 0 if running and answering, 3 if not
#   scripts/kafka.sh logs [-f] tail the broker log
#   scripts/kafka.sh pid       print the broker's pid (exit 3 if not running), e.g. for kill -9
#   scripts/kafka.sh topics ARGS...   org.apache.kafka.tools.TopicCommand against this broker
#   scripts/kafka.sh env       print the settings in effect
#
# See deploy/kafka/README.md for the environment variables.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
DEPLOY_DIR="$REPO_ROOT/deploy/kafka"
POM="$DEPLOY_DIR/pom.xml"
TEMPLATE="$DEPLOY_DIR/server.properties.template"
LOG4J_CONFIG="$DEPLOY_DIR/log4j2.properties"

CACHE_DIR="${SALESPULSE_CACHE:-${HOME:-/tmp}/.cache/salespulse}/kafka"
KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
# Whether the caller chose the controller port: `restart` without one keeps
# the port the data dir was formatted with (see restart_ports).
KAFKA_CONTROLLER_PORT_GIVEN="${KAFKA_CONTROLLER_PORT:+1}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
# One run directory per client port, so two brokers on different ports can coexist.
KAFKA_RUN_DIR="${KAFKA_RUN_DIR:-$CACHE_DIR/run-$KAFKA_PORT}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$KAFKA_RUN_DIR/data}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
KAFKA_LOG_LEVEL="${KAFKA_LOG_LEVEL:-INFO}"
KAFKA_KEEP_DATA="${KAFKA_KEEP_DATA:-0}"
KAFKA_NO_APT="${KAFKA_NO_APT:-0}"
KAFKA_EXTRA_PROPS="${KAFKA_EXTRA_PROPS:-}"

PID_FILE="$KAFKA_RUN_DIR/kafka.pid"
LOG_FILE="$KAFKA_RUN_DIR/kafka.log"
CONFIG_FILE="$KAFKA_RUN_DIR/server.properties"
LOCK_FILE="$KAFKA_RUN_DIR/.lock"
# Written into the data dir when we format it: proves the dir is ours before
# `start` wipes it, and remembers the ports the KRaft quorum was formatted with.
MARKER=".salespulse-kafka"

BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"

log() { printf '[kafka.sh] %s\n' "$*" >&2; }
die() { printf '[kafka.sh] ERROR: %s\n' "$*" >&2; exit 1; }

now_ms() { date +%s%3N; }

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    echo "$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    command -v java
  else
    die "no java found (Kafka 4.x needs Java 17+); install openjdk-17-jre-headless or set JAVA_HOME"
  fi
}

kafka_version() {
  sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1
}

# The classpath file is keyed on the pom's content, so editing the pom
# (e.g. bumping kafka.version) triggers a new Maven run.
pom_hash() { sha256sum "$POM" | cut -c1-16; }
classpath_file() { echo "$CACHE_DIR/classpath-$(kafka_version)-$(pom_hash).txt"; }

classpath_is_complete() {
  local cp_file="$1" jar jars
  [[ -s "$cp_file" ]] || return 1
  IFS=':' read -r -a jars <"$cp_file"
  (( ${#jars[@]} > 0 )) || return 1
  for jar in "${jars[@]}"; do
    [[ -f "$jar" ]] || return 1
  done
}

cmd_fetch() {
  local cp_file t0 tmp
  cp_file="$(classpath_file)"
  if classpath_is_complete "$cp_file"; then
    log "Kafka $(kafka_version) classpath cached: $cp_file"
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found; install maven (apt-get install -y maven)"
  mkdir -p "$CACHE_DIR"
  t0="$(now_ms)"
  tmp="$(mktemp "$CACHE_DIR/.classpath.XXXXXX")"
  local mvn_args=(-B -q -Dstyle.color=never -f "$POM"
    dependency:build-classpath -Dmdep.outputFile="$tmp" -Dmdep.includeScope=runtime)
  # Offline first: when ~/.m2 already holds everything this avoids any
  # network round trip; fall back to a normal (online) resolve.
  # shellcheck disable=SC2086
  if mvn -o ${KAFKA_MVN_ARGS:-} "${mvn_args[@]}" >"$CACHE_DIR/mvn.log" 2>&1; then
    log "resolved Kafka $(kafka_version) from the local Maven repository"
  else
    log "resolving Kafka $(kafka_version) from Maven Central (first run downloads ~45 MB)..."
    # shellcheck disable=SC2086
    if ! mvn ${KAFKA_MVN_ARGS:-} "${mvn_args[@]}" >"$CACHE_DIR/mvn.log" 2>&1; then
      rm -f "$tmp"
      tail -n 40 "$CACHE_DIR/mvn.log" >&2 || true
      die "Maven could not resolve Kafka $(kafka_version); full log: $CACHE_DIR/mvn.log"
    fi
  fi
  classpath_is_complete "$tmp" || { rm -f "$tmp"; die "Maven wrote an empty or broken classpath"; }
  mv -f "$tmp" "$cp_file"
  log "classpath written: $cp_file ($(tr ':' '\n' <"$cp_file" | wc -l) jars, $(( $(now_ms) - t0 )) ms)"
}

classpath() {
  local cp_file
  cp_file="$(classpath_file)"
  classpath_is_complete "$cp_file" || cmd_fetch
  # The deploy dir first so log4j2 finds its config even without the -D flag.
  echo "$DEPLOY_DIR:$(cat "$cp_file")"
}

run_java() {
  # run_java MAIN_CLASS ARGS... : a short-lived Kafka tool (small heap, same logging).
  local cp
  cp="$(classpath)"
  "$(java_bin)" -Xmx256m -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dkafka.root.log.level=WARN \
    -cp "$cp" "$@"
}

# --- process bookkeeping -----------------------------------------------------

read_pid() {
  if [[ -f "$PID_FILE" ]]; then tr -dc '0-9' <"$PID_FILE"; fi
}

# True if PID is alive and is the broker started with our config (guards
# against a stale pid file whose number has been reused).
is_our_broker() {
  local pid="$1"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -F -- "kafka.Kafka $CONFIG_FILE" >/dev/null
}

running_pid() {
  local pid
  pid="$(read_pid)"
  if is_our_broker "$pid"; then echo "$pid"; fi
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

ensure_kcat() {
  command -v kcat >/dev/null 2>&1 && return 0
  [[ "$KAFKA_NO_APT" == 1 ]] && return 1
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "kcat not found; installing the Debian package (apt-get)..."
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null 2>&1; then
      apt-get update -qq >/dev/null 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null 2>&1 || true
    fi
  fi
  command -v kcat >/dev/null 2>&1
}

# Broker is ready when a metadata request lists it. A KRaft broker only
# appears in metadata once it has registered with the controller and been
# unfenced, so this also means topics can be created and written.
broker_answers() {
  if command -v kcat >/dev/null 2>&1; then
    # No grep -q: it would exit on the first match and, with pipefail, the
    # SIGPIPE kcat gets on a long topic list would read as "not ready".
    kcat -b "$BOOTSTRAP" -L -m 3 2>/dev/null | grep "broker 1 at" >/dev/null
  else
    # No kcat: the port is open and the broker said it finished starting.
    # Only the part of the (appended) log after the last start header counts.
    port_open "$KAFKA_HOST" "$KAFKA_PORT" &&
      awk '/^===== .* starting Kafka/ {s = 0} /Kafka Server started/ {s = 1} END {exit !s}' "$LOG_FILE" 2>/dev/null
  fi
}

# --- start / stop ------------------------------------------------------------

render_config() {
  local tmp="$CONFIG_FILE.tmp"
  sed -e "s|@KAFKA_HOST@|$KAFKA_HOST|g" \
      -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
      -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|@KAFKA_LOG_DIRS@|$KAFKA_DATA_DIR|g" \
      "$TEMPLATE" >"$tmp"
  if [[ -n "$KAFKA_EXTRA_PROPS" ]]; then
    printf '\n# KAFKA_EXTRA_PROPS (later keys win)\n%s\n' "$KAFKA_EXTRA_PROPS" >>"$tmp"
  fi
  mv -f "$tmp" "$CONFIG_FILE"
}

# restart_ports: a restart names its broker by KAFKA_PORT alone (the run
# directory is keyed on it); without KAFKA_CONTROLLER_PORT it takes the
# controller port recorded when the data dir was formatted, so a test that
# restarts a second broker (KAFKA_PORT=19192) needs no other setting.
restart_ports() {
  local have
  [[ -z "$KAFKA_CONTROLLER_PORT_GIVEN" ]] || return 0
  have="$(sed -n 's/.* controller_port=\([0-9][0-9]*\).*/\1/p' "$KAFKA_DATA_DIR/$MARKER" 2>/dev/null || true)"
  [[ -n "$have" ]] && KAFKA_CONTROLLER_PORT="$have"
  return 0
}

marker_text() { echo "host=$KAFKA_HOST port=$KAFKA_PORT controller_port=$KAFKA_CONTROLLER_PORT"; }

is_formatted() { [[ -f "$KAFKA_DATA_DIR/meta.properties" ]]; }

wipe_data_dir() {
  [[ -e "$KAFKA_DATA_DIR" ]] || return 0
  if [[ -f "$KAFKA_DATA_DIR/$MARKER" || -z "$(ls -A "$KAFKA_DATA_DIR" 2>/dev/null)" ]]; then
    rm -rf -- "$KAFKA_DATA_DIR"
  else
    die "refusing to wipe $KAFKA_DATA_DIR: not empty and not created by kafka.sh (no $MARKER file)"
  fi
}

format_storage() {
  local cluster_id="${KAFKA_CLUSTER_ID:-}"
  if [[ -z "$cluster_id" ]]; then
    # Same as `StorageTool random-uuid` (16 random bytes, URL-safe base64, no
    # padding, not starting with '-') without paying for a JVM start.
    until [[ -n "$cluster_id" && "$cluster_id" != -* ]]; do
      cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
  fi
  [[ -n "$cluster_id" ]] || die "could not make a cluster id; see $KAFKA_RUN_DIR/format.log"
  mkdir -p "$KAFKA_DATA_DIR"
  if ! run_java kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$CONFIG_FILE" \
      >>"$KAFKA_RUN_DIR/format.log" 2>&1; then
    cat "$KAFKA_RUN_DIR/format.log" >&2
    die "formatting KRaft storage in $KAFKA_DATA_DIR failed"
  fi
  marker_text >"$KAFKA_DATA_DIR/$MARKER"
  log "formatted $KAFKA_DATA_DIR (cluster id $cluster_id)"
}

# start_broker fresh|keep
start_broker() {
  local mode="$1" pid t0 deadline cp
  t0="$(now_ms)"
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    log "already running (pid $pid) on $BOOTSTRAP"
    return 0
  fi
  rm -f "$PID_FILE"
  if port_open "$KAFKA_HOST" "$KAFKA_PORT" || port_open "$KAFKA_HOST" "$KAFKA_CONTROLLER_PORT"; then
    die "port $KAFKA_PORT or $KAFKA_CONTROLLER_PORT on $KAFKA_HOST is already in use by another process; set KAFKA_PORT / KAFKA_CONTROLLER_PORT"
  fi
  [[ -f "$TEMPLATE" ]] || die "missing $TEMPLATE"
  cp="$(classpath)"
  ensure_kcat || log "kcat not available; readiness falls back to port + log check"

  mkdir -p "$KAFKA_RUN_DIR"
  render_config
  : >"$KAFKA_RUN_DIR/format.log"

  if [[ "$mode" == fresh ]]; then
    # A fresh start gets a fresh log (one previous kept); restarts append, so
    # a fault test's log shows every incarnation of the broker.
    if [[ -f "$LOG_FILE" ]]; then mv -f "$LOG_FILE" "$LOG_FILE.1"; fi
    if [[ "$KAFKA_KEEP_DATA" != 1 ]]; then wipe_data_dir; fi
  fi
  if is_formatted; then
    local want have
    want="$(marker_text)"
    have="$(cat "$KAFKA_DATA_DIR/$MARKER" 2>/dev/null || echo unknown)"
    [[ "$have" == "$want" ]] || die "$KAFKA_DATA_DIR was formatted for '$have' but this start wants '$want'; use the same ports or run 'start' without KAFKA_KEEP_DATA to reformat"
    log "reusing formatted data dir $KAFKA_DATA_DIR"
  else
    format_storage
  fi

  {
    echo "===== $(date -Is) starting Kafka $(kafka_version) on $BOOTSTRAP (controller $KAFKA_HOST:$KAFKA_CONTROLLER_PORT) ====="
  } >>"$LOG_FILE"
  # shellcheck disable=SC2086
  # 9>&- : the broker must not inherit the lock kafka.sh holds on fd 9.
  nohup "$(java_bin)" $KAFKA_HEAP_OPTS $KAFKA_JVM_OPTS \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
    -Dkafka.root.log.level="$KAFKA_LOG_LEVEL" \
    -Dkafka.logs.dir="$KAFKA_RUN_DIR" \
    -cp "$cp" kafka.Kafka "$CONFIG_FILE" \
    >>"$LOG_FILE" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"

  deadline=$(( $(date +%s) + KAFKA_START_TIMEOUT ))
  until broker_answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      log "broker process $pid exited during startup; last log lines:"
      tail -n 60 "$LOG_FILE" >&2 || true
      die "Kafka did not start (full log: $LOG_FILE)"
    fi
    if (( $(date +%s) >= deadline )); then
      log "broker did not answer on $BOOTSTRAP within ${KAFKA_START_TIMEOUT}s; last log lines:"
      tail -n 60 "$LOG_FILE" >&2 || true
      stop_broker >/dev/null 2>&1 || true
      die "Kafka start timed out (full log: $LOG_FILE)"
    fi
    sleep 0.2
  done
  log "Kafka $(kafka_version) up on $BOOTSTRAP (pid $pid, $(( $(now_ms) - t0 )) ms, data $KAFKA_DATA_DIR)"
}

stop_broker() {
  local pid deadline
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping pid $pid (SIGTERM, up to ${KAFKA_STOP_TIMEOUT}s)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(( $(date +%s) + KAFKA_STOP_TIMEOUT ))
  while kill -0 "$pid" 2>/dev/null; do
    if (( $(date +%s) >= deadline )); then
      log "pid $pid still alive after ${KAFKA_STOP_TIMEOUT}s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
  log "stopped"
}

with_lock() {
  mkdir -p "$KAFKA_RUN_DIR"
  exec 9>"$LOCK_FILE"
  flock -w 120 9 || die "another kafka.sh is holding $LOCK_FILE"
  "$@"
}

cmd_status() {
  local pid
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    echo "Kafka not running ($BOOTSTRAP)"
    return 3
  fi
  if broker_answers; then
    echo "Kafka running: pid $pid, bootstrap $BOOTSTRAP, data $KAFKA_DATA_DIR"
    return 0
  fi
  echo "Kafka process $pid is up but $BOOTSTRAP does not answer"
  return 3
}

cmd_logs() {
  [[ -f "$LOG_FILE" ]] || die "no log yet at $LOG_FILE"
  if [[ "${1:-}" == "-f" ]]; then
    exec tail -n "${KAFKA_LOG_LINES:-100}" -F "$LOG_FILE"
  fi
  tail -n "${KAFKA_LOG_LINES:-100}" "$LOG_FILE"
}

cmd_env() {
  cat <<EOF
KAFKA_VERSION=$(kafka_version)
KAFKA_BOOTSTRAP=$BOOTSTRAP
KAFKA_HOST=$KAFKA_HOST
KAFKA_PORT=$KAFKA_PORT
KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT
KAFKA_RUN_DIR=$KAFKA_RUN_DIR
KAFKA_DATA_DIR=$KAFKA_DATA_DIR
KAFKA_LOG_FILE=$LOG_FILE
KAFKA_CLASSPATH_FILE=$(classpath_file)
EOF
}

usage() {
  # The header comment of this file, without the '#'.
  awk 'NR == 1 {next} /^#/ {sub(/^# ?/, ""); print; next} {exit}' "${BASH_SOURCE[0]}" >&2
  exit 2
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    fetch)   cmd_fetch ;;
    start)   with_lock start_broker fresh ;;
    stop)    with_lock stop_broker ;;
    restart) restart_ports; with_lock stop_broker; start_broker keep ;;
    status)  cmd_status ;;
    logs)    cmd_logs "$@" ;;
    topics)  run_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" "$@" ;;
    pid)     pid="$(running_pid)"; [[ -n "$pid" ]] || exit 3; echo "$pid" ;;
    env)     cmd_env ;;
    -h|--help|help|"") usage ;;
    *) log "unknown command: $cmd"; usage ;;
  esac
}

main "$@"
