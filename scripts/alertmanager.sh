#!/bin/sh
# Start or stop a local Prometheus Alertmanager for the alert end-to-end test
# (tests/alerts). Listens on 127.0.0.1:19094 (19093 is Kafka's controller).
#   scripts/alertmanager.sh start   # installs prometheus-alertmanager if missing
#   export SALESPULSE_ALERTMANAGER_URL=http://127.0.0.1:19094
#   go test ./tests/alerts/
#   scripts/alertmanager.sh stop
set -eu
ADDR=${ALERTMANAGER_ADDR:-127.0.0.1:19094}
DIR=${ALERTMANAGER_DIR:-${TMPDIR:-/tmp}/salespulse-alertmanager}
PIDFILE="$DIR/alertmanager.pid"

bin() {
	for b in prometheus-alertmanager alertmanager; do
		if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return; fi
	done
	return 1
}

case "${1:-}" in
start)
	if ! bin >/dev/null; then
		apt-get install -y prometheus-alertmanager >/dev/null
	fi
	mkdir -p "$DIR/data"
	if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
		echo "alertmanager already running (pid $(cat "$PIDFILE"))"; exit 0
	fi
	# A receiver that sends nowhere: the test reads alerts back through the API.
	cat >"$DIR/alertmanager.yml" <<'YML'
route:
  receiver: blackhole
  group_by: [alertname, team]
  group_wait: 1s
receivers:
  - name: blackhole
YML
	"$(bin)" --config.file="$DIR/alertmanager.yml" --storage.path="$DIR/data" \
		--web.listen-address="$ADDR" --cluster.listen-address= \
		>"$DIR/alertmanager.log" 2>&1 &
	echo $! >"$PIDFILE"
	for _ in $(seq 1 50); do
		if curl -fsS "http://$ADDR/-/ready" >/dev/null 2>&1; then
			echo "alertmanager ready on http://$ADDR (export SALESPULSE_ALERTMANAGER_URL=http://$ADDR)"; exit 0
		fi
		sleep 0.2
	done
	echo "alertmanager did not become ready; see $DIR/alertmanager.log" >&2; exit 1
	;;
stop)
	if [ -f "$PIDFILE" ]; then
		kill "$(cat "$PIDFILE")" 2>/dev/null || true
		rm -f "$PIDFILE"
	fi
	;;
*)
	echo "usage: $0 start|stop" >&2; exit 2
	;;
esac
