package console

import (
	"strconv"
	"strings"
)

// queries are the console's SQL, rendered once in New: {{db}} is the
// database, {{limit}} console.max_rows and {{settings}} the SETTINGS
// clause with max_execution_time, all from the config. Request values
// only ever travel as query parameters ({name:Type}).
type queries struct {
	lastDay, meta, overview, series                                  string
	response, responseReps, activity, accounts, discounts, approvals string
	deals, alerts, stream, journey                                   string
	forecast, scores, scoreBuckets, signals, signalCounts            string
}

func newQueries(db string, cfg Config) queries {
	r := strings.NewReplacer(
		"{{db}}", "`"+strings.ReplaceAll(db, "`", "")+"`",
		"{{limit}}", strconv.Itoa(cfg.MaxRows),
		"{{settings}}", "max_execution_time = "+strconv.Itoa(int(cfg.MaxExecutionTime.Seconds())),
	)
	return queries{
		lastDay:      r.Replace(sqlLastDay),
		meta:         r.Replace(sqlMeta),
		overview:     r.Replace(sqlOverview),
		series:       r.Replace(sqlSeries),
		response:     r.Replace(strings.ReplaceAll(sqlResponse, "{{by}}", "day, team_id")),
		responseReps: r.Replace(strings.ReplaceAll(sqlResponse, "{{by}}", "owner_rep_id, team_id")),
		activity:     r.Replace(sqlActivity),
		accounts:     r.Replace(sqlAccounts),
		discounts:    r.Replace(sqlDiscounts),
		approvals:    r.Replace(sqlApprovals),
		deals:        r.Replace(sqlDeals),
		alerts:       r.Replace(sqlAlerts),
		stream:       r.Replace(sqlStream),
		journey:      r.Replace(sqlJourney),
		forecast:     r.Replace(sqlForecast),
		scores:       r.Replace(sqlScores),
		scoreBuckets: r.Replace(sqlScoreBuckets),
		signals:      r.Replace(sqlSignals),
		signalCounts: r.Replace(sqlSignalCounts),
	}
}

// The filters every KBI query shares: the day range, then team and rep
// ("" = all).
const (
	whereDays = `day BETWEEN {from:Date} AND {to:Date}`
	whereTeam = `({team:String} = '' OR team_id = {team:String})`
	whereRep  = `({rep:String} = '' OR rep_id = {rep:String})`
)

const sqlLastDay = `SELECT toUInt64(count()) AS n, toString(max(day)) AS last
FROM {{db}}.activity_daily
SETTINGS {{settings}}`

const sqlMeta = `SELECT toUInt64(count()) AS n, toString(min(day)) AS first, toString(max(day)) AS last
FROM {{db}}.activity_daily
SETTINGS {{settings}}`

const sqlOverview = `SELECT toUInt64(count()) AS stored_rows, max(ingested_at) AS last_store_at
FROM {{db}}.interactions
SETTINGS {{settings}}`

// The hour before the newest minute stored, not before now: generated or
// replayed data has event times in the past, and its chart would be empty.
const sqlSeries = `SELECT toInt64(toUnixTimestamp(minute)) AS t, toUInt64(sum(interactions)) AS n
FROM {{db}}.activity_per_minute
WHERE minute > (SELECT max(minute) FROM {{db}}.activity_per_minute) - INTERVAL 60 MINUTE
GROUP BY minute
ORDER BY minute
LIMIT {{limit}}
SETTINGS {{settings}}`

// sqlResponse groups the final facts and the live provisional pairs (the
// rows kbi_response_time_daily sums) by {{by}}: the view's rows are per
// owner, responder and channel, and quantiles of a coarser grain cannot
// be made from its merged ones. A trigger is within its SLA when
// answered within the SLA of its team and channel, counted on the clock
// the SLA counts (business seconds when the team's clock is business and
// a calendar gave them): the SLAs travel as map parameters keyed
// "team/channel", with defaults for teams the org does not list.
const sqlResponse = `SELECT toString(min(day)) AS day_str, team_id, any(owner_rep_id) AS owner,
    toUInt64(count()) AS leads,
    toUInt64(countIf(is_answered = 1)) AS answered,
    toUInt64(countIf(is_answered = 0)) AS unanswered,
    quantilesExactIf(0.5, 0.9)(ifNull(response_s, 0), is_answered = 1) AS q,
    toUInt64(countIf(is_answered = 1 AND ifNull(clock_s, inf) <= sla_s)) AS within_sla,
    provisional
FROM
(
    SELECT day, team_id, owner_rep_id, is_answered, response_s, provisional,
        concat(team_id, '/', toString(trigger_channel)) AS k,
        if(mapContains({sla:Map(String, Float64)}, k), {sla:Map(String, Float64)}[k], {sla_default:Float64}) AS sla_s,
        if(if(mapContains({biz:Map(String, UInt8)}, k), {biz:Map(String, UInt8)}[k], {biz_default:UInt8}) = 1 AND business_s IS NOT NULL,
           business_s, response_s) AS clock_s
    FROM
    (
        SELECT day, team_id, owner_rep_id, trigger_channel, is_answered, response_s, business_s, toUInt8(0) AS provisional
        FROM {{db}}.lead_response_facts
        WHERE ` + whereDays + ` AND ` + whereTeam + ` AND ({rep:String} = '' OR owner_rep_id = {rep:String})
        UNION ALL
        SELECT day, team_id, owner_rep_id, trigger_channel, is_answered, response_s, business_s, toUInt8(1) AS provisional
        FROM {{db}}.lead_response_provisional FINAL
        WHERE ` + whereDays + ` AND ` + whereTeam + ` AND ({rep:String} = '' OR owner_rep_id = {rep:String})
    )
)
GROUP BY {{by}}, provisional
ORDER BY {{by}}, provisional
LIMIT {{limit}}
SETTINGS {{settings}}`

const sqlActivity = `SELECT toString(day) AS day_str, team_id, rep_id,
    toUInt64(interactions) AS interactions, toUInt64(emails) AS emails, toUInt64(calls) AS calls,
    toUInt64(meetings) AS meetings, toUInt64(social) AS social, toUInt64(chats) AS chats
FROM {{db}}.kbi_activity_daily
WHERE ` + whereDays + ` AND ` + whereTeam + ` AND ` + whereRep + `
ORDER BY day, team_id, rep_id
LIMIT {{limit}}
SETTINGS {{settings}}`

// The accounts each rep touched in the range, with the latest
// accounts_target of the rep's team (team_targets, from the org file; 0 =
// none), as kbi_accounts_per_rep reads it.
const sqlAccounts = `SELECT a.rep_id AS rep_id, a.team_id AS team_id, a.accounts AS accounts,
    toUInt32(ifNull(t.target, 0)) AS target
FROM
(
    SELECT rep_id, team_id, toUInt64(uniqExact(account_id)) AS accounts
    FROM {{db}}.rep_accounts_daily
    WHERE ` + whereDays + ` AND ` + whereTeam + ` AND ` + whereRep + ` AND account_id != ''
    GROUP BY rep_id, team_id
) AS a
LEFT JOIN
(
    SELECT team_id, argMax(accounts_target, updated_at) AS target
    FROM {{db}}.team_targets
    GROUP BY team_id
) AS t ON a.team_id = t.team_id
ORDER BY rep_id, team_id
LIMIT {{limit}}
SETTINGS {{settings}}, join_use_nulls = 1`

// Quotes above their rep's authority: the authorities travel as a map
// parameter keyed by rep id (reps without one are never over).
const sqlDiscounts = `SELECT toString(day) AS day_str, team_id, rep_id,
    toUInt64(count()) AS quotes,
    avg(discount_pct) AS discount_avg_pct,
    max(discount_pct) AS discount_max_pct,
    toUInt64(countIf(mapContains({auth:Map(String, Float64)}, rep_id) AND discount_pct > {auth:Map(String, Float64)}[rep_id])) AS over_authority
FROM {{db}}.deal_facts
WHERE type = 'quote.created' AND ` + whereDays + ` AND ` + whereTeam + ` AND ` + whereRep + `
GROUP BY day, team_id, rep_id
ORDER BY day, team_id, rep_id
LIMIT {{limit}}
SETTINGS {{settings}}`

// The decided and expired requests (kbi_approvals_daily's rows) by team and
// day; the median latency needs the facts, as for responses.
const sqlApprovals = `SELECT toString(day) AS day_str, team_id,
    toUInt64(count()) AS requests,
    toUInt64(countIf(outcome_str = 'approved')) AS approved,
    toUInt64(countIf(outcome_str = 'rejected')) AS rejected,
    toUInt64(countIf(outcome_str = 'expired')) AS expired,
    toUInt64(countIf(outcome_str != 'expired' AND latency_s < 86400)) AS decided_within_24h,
    quantileExactIf(0.5)(ifNull(latency_s, 0), outcome_str != 'expired') AS latency_p50_s,
    provisional
FROM
(
    SELECT day, team_id, toString(outcome) AS outcome_str, latency_s, toUInt8(0) AS provisional
    FROM {{db}}.approval_facts
    WHERE ` + whereDays + ` AND ` + whereTeam + ` AND ` + whereRep + `
    UNION ALL
    SELECT day, team_id, toString(outcome) AS outcome_str, latency_s, toUInt8(1) AS provisional
    FROM {{db}}.approval_provisional FINAL
    WHERE ` + whereDays + ` AND ` + whereTeam + ` AND ` + whereRep + `
)
GROUP BY day, team_id, provisional
ORDER BY day, team_id, provisional
LIMIT {{limit}}
SETTINGS {{settings}}`

// The cycle of a won or lost deal runs from the first interaction with its
// account (any rep, any system) to the outcome; unknown (NULL) without an
// account.
const sqlDeals = `SELECT toString(d.day) AS day_str, d.team_id AS team, d.rep_id AS rep, toString(d.currency) AS currency_str,
    toUInt64(countIf(d.type = 'deal.won')) AS won,
    toUInt64(countIf(d.type = 'deal.lost')) AS lost,
    sumIf(ifNull(d.amount, 0), d.type = 'deal.won') AS won_amount,
    sumIf(ifNull(d.amount, 0), d.type = 'deal.lost') AS lost_amount,
    if(countIf(f.first_at IS NOT NULL) = 0, NULL,
       avgIf(dateDiff('millisecond', f.first_at, d.occurred_at) / 86400000, f.first_at IS NOT NULL)) AS cycle_days_avg
FROM {{db}}.deal_facts AS d
LEFT JOIN
(
    SELECT account_id, min(occurred_at) AS first_at
    FROM {{db}}.interactions
    WHERE account_id IN (
        SELECT account_id FROM {{db}}.deal_facts
        WHERE type IN ('deal.won', 'deal.lost') AND account_id != '' AND ` + whereDays + ` AND ` + whereTeam + ` AND ` + whereRep + `)
    GROUP BY account_id
) AS f ON d.account_id = f.account_id
WHERE d.type IN ('deal.won', 'deal.lost') AND d.day BETWEEN {from:Date} AND {to:Date}
    AND ({team:String} = '' OR d.team_id = {team:String}) AND ({rep:String} = '' OR d.rep_id = {rep:String})
GROUP BY d.day, d.team_id, d.rep_id, d.currency
ORDER BY d.day, d.team_id, d.rep_id, d.currency
LIMIT {{limit}}
SETTINGS {{settings}}, join_use_nulls = 1`

// alertColumns are an alert's fields as the API shows them; acknowledged
// means an alert.acknowledged event names the alert (in approval_id, as
// the acknowledgement endpoint writes it). Those events carry source
// "salespulse" (internal/ack.Source): with the day first in the sorting
// key, the source condition lets ClickHouse skip the granules of every
// other source instead of reading all interactions, for every list and
// every stream poll.
const alertColumns = `id, toString(rule) AS rule_str, toString(severity) AS severity_str, toString(state) AS state_str, at,
    team_id, rep_id, ` + "`values`['lead_id']" + ` AS lead_id, summary,
    toUInt8(id IN (SELECT approval_id FROM {{db}}.interactions WHERE source = 'salespulse' AND type = 'alert.acknowledged')) AS acknowledged`

const sqlAlerts = `SELECT ` + alertColumns + `
FROM {{db}}.alerts FINAL
WHERE ` + whereTeam + `
ORDER BY at DESC, id
LIMIT {limit:UInt64}
SETTINGS {{settings}}`

// The stream reads every state change (no FINAL) stored since a moment,
// with its version to tell changes apart.
const sqlStream = `SELECT ` + alertColumns + `, version, ingested_at
FROM {{db}}.alerts
WHERE ingested_at > fromUnixTimestamp64Milli({since:Int64})
ORDER BY ingested_at, id
LIMIT {{limit}}
SETTINGS {{settings}}`

const sqlJourney = `SELECT occurred_at AS at_time, toString(type) AS type_str, toString(channel) AS channel_str, toString(source) AS source_str,
    rep_id, team_id, event_id
FROM {{db}}.interactions FINAL
WHERE lead_id = {lead:String}
ORDER BY occurred_at, event_id
LIMIT {{limit}}
SETTINGS {{settings}}`

// The forecast KBI (kbi_forecast_accuracy, docs/kbis.md "Forecast
// accuracy") for the periods that overlap from..to: a period is a month
// or a quarter from period_start. The view computes the previous
// period's accuracy over all periods before this filter applies, so the
// first period in the range still has its change.
const sqlForecast = `SELECT team_id, rep_id, period_kind, toString(period_start) AS period_start_str, period, category,
    toString(currency) AS currency_str,
    CAST(forecast AS Nullable(Float64)) AS forecast_f,
    ifNull(toFloat64(closed_won), 0) AS closed_won_f,
    ifNull(toUInt64(won_deals), 0) AS won_deals_n,
    CAST(accuracy AS Nullable(Float64)) AS accuracy_f,
    CAST(bias AS Nullable(Float64)) AS bias_f,
    CAST(prev_accuracy AS Nullable(Float64)) AS prev_accuracy_f,
    CAST(accuracy_change AS Nullable(Float64)) AS accuracy_change_f
FROM {{db}}.kbi_forecast_accuracy
WHERE period_start <= {to:Date}
    AND if(period_kind = 'quarter', addQuarters(period_start, 1), addMonths(period_start, 1)) > {from:Date}
    AND ` + whereTeam + ` AND ` + whereRep + `
ORDER BY period_kind, period_start, team_id, rep_id, category, currency
LIMIT {{limit}}
SETTINGS {{settings}}`

// Open deals, least likely to close first: the deals at risk.
const sqlScores = `SELECT opportunity_id, account_id, rep_id, team_id, scored_at, probability, reasons
FROM {{db}}.deal_scores_open
WHERE ` + whereTeam + `
ORDER BY probability, opportunity_id
LIMIT {limit:UInt64}
SETTINGS {{settings}}`

// The open deals per tenth of win probability (bucket 9 holds 1.0).
const sqlScoreBuckets = `SELECT least(toUInt8(floor(probability * 10)), 9) AS bucket, toUInt64(count()) AS n
FROM {{db}}.deal_scores_open
WHERE ` + whereTeam + `
GROUP BY bucket
ORDER BY bucket
LIMIT {{limit}}
SETTINGS {{settings}}`

// whereSignal is the market_signal tasks fired on the range's days (UTC)
// for a team.
const whereSignal = `rule = 'market_signal' AND toDate(at) BETWEEN {from:Date} AND {to:Date} AND ` + whereTeam

// The market_signal tasks (docs/signals.md, "The task"): the values carry
// the account, kind, source and, when known, the URL.
const sqlSignals = `SELECT id, at, team_id, rep_id, ` +
	"`values`['account_id'] AS account_id, `values`['kind'] AS kind, `values`['source'] AS source, `values`['url'] AS url" + `,
    summary
FROM {{db}}.alerts FINAL
WHERE ` + whereSignal + `
ORDER BY at DESC, id
LIMIT {limit:UInt64}
SETTINGS {{settings}}`

// The tasks in the range, and the signals that occurred in it and match
// no account yet (unmatched_signals; they have no team, so the team
// filter does not apply to them).
const sqlSignalCounts = `SELECT
    (SELECT toUInt64(count()) FROM {{db}}.alerts FINAL WHERE ` + whereSignal + `) AS tasks,
    (SELECT toUInt64(count()) FROM {{db}}.unmatched_signals
        WHERE toDate(occurred_at) BETWEEN {from:Date} AND {to:Date}) AS unmatched
LIMIT {{limit}}
SETTINGS {{settings}}`
