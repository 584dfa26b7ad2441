package clickhouse

import (
	"context"
	"strings"
	"testing"

	"github.com/salespulse/salespulse/sinks/clickhouse/migrate"
)

// What migration 014's SLA rollup holds, per its key, and the same from
// lead_response_facts; alerts as FINAL reads them (a Map does not sort).
const (
	slaOwnerDaily = `SELECT day, team_id, owner_rep_id, trigger_channel, sum(leads), arraySort(groupArrayArray(answered_s))
FROM DB.lead_sla_owner_daily GROUP BY ALL ORDER BY ALL`
	slaFacts = `SELECT day, team_id, owner_rep_id, trigger_channel, count(), arraySort(groupArrayIf(assumeNotNull(response_s), response_s IS NOT NULL))
FROM DB.lead_response_facts GROUP BY ALL ORDER BY ALL`
	alertsFinal = "SELECT id, rule, state, severity, rep_id, team_id, manager_id, summary, event_ids, toString(`values`), at, ends_at, version, ingested_at FROM DB.alerts FINAL ORDER BY ALL"
)

// TestDashboardRollupsBackfill checks migrations 012's, 013's and 014's
// copies of rows stored before them: on the same rows, each guarded INSERT
// ... SELECT fills its table exactly as the table's views do, and a second
// run (a re-applied, half-failed migration) copies nothing. 014's team-first
// copies also hold their sources' rows.
func TestDashboardRollupsBackfill(t *testing.T) {
	srv := startServer(t)
	db := dbName(t)
	s := newTestSink(t, srv.addr, db, nil)
	ctx := context.Background()
	exec := func(q string) {
		t.Helper()
		if err := s.conn.Exec(ctx, strings.ReplaceAll(q, "DB.", db+".")); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	// Rows as the sink and the window stage store them; the views fill
	// the rollups.
	exec(`INSERT INTO DB.interactions (event_id, occurred_at, source, type, direction, channel, rep_id, team_id, account_id, duration_s, attributes, ingested_at)
SELECT concat('e', toString(number)), toDateTime64('2026-03-02 08:00:00', 3, 'UTC') + toIntervalMinute(number * 7),
    'crm', if(number % 40 = 0, 'account.signal', ['email.sent', 'call.inbound', 'meeting.held'][1 + number % 3]), ['outbound', 'inbound'][1 + number % 2],
    ['email', 'call', 'meeting'][1 + number % 3], concat('r', toString(number % 6)), concat('t', toString(number % 2)), concat('a', toString(number % 11)),
    if(number % 3 = 1, toFloat64(number), NULL), map('signal_kind', 'funding', 'signal_domain', concat('d', toString(number % 4))), now64(3)
FROM numbers(3000)`)
	exec(`INSERT INTO DB.activity_daily (day, team_id, rep_id, channel, type, direction, interactions, duration_s)
SELECT toDate(occurred_at), team_id, rep_id, channel, type, direction, toUInt64(count()), sum(ifNull(duration_s, 0))
FROM DB.interactions GROUP BY ALL`)
	exec(`INSERT INTO DB.rep_accounts_daily SELECT DISTINCT toDate(occurred_at), team_id, rep_id, account_id FROM DB.interactions`)
	exec(`INSERT INTO DB.lead_response_facts (day, trigger_at, lead_id, trigger_event_id, trigger_channel, owner_rep_id, team_id, is_answered, response_s, business_s)
SELECT toDate('2026-03-02') + number % 9, toDateTime64('2026-03-02 09:00:00', 3, 'UTC'), concat('l', toString(number)), concat('l', toString(number)),
    ['email', 'chat'][1 + number % 2], concat('r', toString(number % 6)), concat('t', toString(number % 2)), number % 5 != 0,
    if(number % 5 != 0, toFloat64(number * 13 % 3600), NULL), if(number % 7 = 0, toFloat64(number), NULL)
FROM numbers(500)`)
	exec(`INSERT INTO DB.approval_facts (day, requested_at, approval_id, request_event_id, rep_id, team_id, outcome, approver_id, latency_s)
SELECT toDate('2026-03-02') + number % 9, toDateTime64('2026-03-02 10:00:00', 3, 'UTC'), concat('ap', toString(number)), concat('ap', toString(number)),
    concat('r', toString(number % 6)), concat('t', toString(number % 2)), ['approved', 'rejected', 'expired'][1 + number % 3] AS outcome,
    if(outcome = 'expired', '', 'm1'), if(outcome = 'expired', NULL, toFloat64(number * 97 % 200000))
FROM numbers(300)`)
	exec(`INSERT INTO DB.deal_facts (day, occurred_at, event_id, type, rep_id, team_id, account_id, currency, amount, list_price, discount_pct)
SELECT toDate('2026-03-02') + number % 40, toDateTime64('2026-03-02 11:00:00', 3, 'UTC') + toIntervalHour(number), concat('d', toString(number)),
    ['quote.created', 'deal.won', 'deal.lost'][1 + number % 3] AS type, concat('r', toString(number % 6)), concat('t', toString(number % 2)),
    concat('a', toString(number % 11)), 'EUR', toFloat64(1000 - number), if(type = 'quote.created', toFloat64(1000), NULL),
    if(type = 'quote.created' AND number % 4 != 0, toFloat64(number % 30), NULL)
FROM numbers(400)`)
	// Alerts pending then firing (two versions of each id, across months
	// for some), then, in a later insert, an acknowledgement's update of
	// some firing rows: the same version with other values, which alerts
	// keeps because it was inserted last.
	alerts := `INSERT INTO DB.alerts (id, rule, state, severity, rep_id, team_id, manager_id, summary, event_ids, ` + "`values`" + `, at, ends_at, version, ingested_at)
SELECT concat('al', toString(a)), ['market_signal', 'lead_response_sla'][1 + a % 2], if(s = 0, 'pending', 'firing'), 'warning',
    concat('r', toString(a % 6)), concat('t', toString(a % 2)), 'm1', 'an alert', [concat('e', toString(a))], map('kind', ['funding', 'hiring'][1 + a % 2], 'ack', {ack}),
    toDateTime64('2026-03-30 23:00:00', 3, 'UTC') + toIntervalHour(a * 3 + s * 2) AS at, NULL, toUInt64(toUnixTimestamp64Milli(at)) * 4 + if(s = 0, 1, 2), now64(3)
FROM (SELECT intDiv(number, 2) AS a, number % 2 AS s FROM numbers(200)) WHERE {where}`
	exec(strings.NewReplacer("{ack}", "''", "{where}", "1").Replace(alerts))
	exec(strings.NewReplacer("{ack}", "'yes'", "{where}", "s = 1 AND a % 3 = 0").Replace(alerts))

	snapshots := map[string]string{
		"activity_hourly":           `SELECT hour, team_id, channel, type, direction, sum(interactions), sum(duration_s) FROM DB.activity_hourly GROUP BY ALL ORDER BY ALL`,
		"rep_channel_daily":         `SELECT day, team_id, rep_id, channel, sum(interactions) FROM DB.rep_channel_daily GROUP BY ALL ORDER BY ALL`,
		"rep_activity_daily":        `SELECT * FROM DB.kbi_activity_daily ORDER BY ALL`,
		"lead_response_owner_daily": `SELECT * FROM DB.kbi_response_owner_daily ORDER BY ALL`,
		"account_signals":           `SELECT * FROM DB.account_signals FINAL ORDER BY ALL`,
		"rep_accounts_monthly":      `SELECT month, team_id, rep_id, uniqMerge(accounts) FROM DB.rep_accounts_monthly GROUP BY ALL ORDER BY ALL`,
		"approvals_team_daily":      `SELECT * FROM DB.kbi_approvals_daily ORDER BY ALL`,
		"lead_sla_owner_daily":      slaOwnerDaily,
		"deal_facts_team":           `SELECT * FROM DB.deal_facts_team ORDER BY ALL`,
		"alert_transitions_team":    `SELECT * FROM DB.alert_transitions_team ORDER BY ALL`,
		"alerts_team":               strings.ReplaceAll(alertsFinal, "DB.alerts", "DB.alerts_team"),
	}
	// Migration 014's copies hold their sources' rows.
	sources := map[string]string{
		"lead_sla_owner_daily":   slaFacts,
		"deal_facts_team":        `SELECT * EXCEPT (kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset) FROM DB.deal_facts ORDER BY ALL`,
		"alert_transitions_team": `SELECT * FROM DB.alert_transitions ORDER BY ALL`,
		"alerts_team":            alertsFinal,
	}
	snap := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for table, q := range snapshots {
			var v string
			q = "SELECT toString(groupArray(tuple(*))) FROM (" + strings.ReplaceAll(q, "DB.", db+".") + ")"
			if err := s.conn.QueryRow(ctx, q).Scan(&v); err != nil {
				t.Fatalf("%s: %v\n%s", table, err, q)
			}
			if len(v) < 10 {
				t.Fatalf("%s: empty: %s", table, v)
			}
			out[table] = v
		}
		return out
	}
	byViews := snap()
	for table, q := range sources {
		var v string
		q = "SELECT toString(groupArray(tuple(*))) FROM (" + strings.ReplaceAll(q, "DB.", db+".") + ")"
		if err := s.conn.QueryRow(ctx, q).Scan(&v); err != nil {
			t.Fatalf("%s: %v\n%s", table, err, q)
		}
		if v != byViews[table] {
			t.Errorf("%s filled by its view:\n%s\nits source:\n%s", table, byViews[table], v)
		}
	}

	stmts, err := migrate.Statements(db, "")
	if err != nil {
		t.Fatal(err)
	}
	var backfills []string
	for _, q := range stmts {
		if strings.HasPrefix(q, "INSERT INTO ") {
			backfills = append(backfills, q)
		}
	}
	if len(backfills) != len(snapshots) {
		t.Fatalf("%d backfill statements, want one per rollup (%d)", len(backfills), len(snapshots))
	}
	for table := range snapshots {
		exec("TRUNCATE TABLE DB." + table)
	}
	for range 2 { // the second run must copy nothing
		for _, q := range backfills {
			exec(q)
		}
		for table, got := range snap() {
			if got != byViews[table] {
				t.Errorf("%s backfilled:\n%s\nfilled by its views:\n%s", table, got, byViews[table])
			}
		}
	}
}
