-- Rollups shaped for the "Sales KBIs" dashboard (issue 17). Measured on a
-- year for 1,000 reps in 100 teams (36.75M interactions) the dashboard's
-- 365-day load took 7.6-10.7 s, and a one-team filter read 28-100 % of the
-- rows, because the panels read per-rep or per-event tables whose sort
-- keys start with the time: a team filter pruned nothing. Every table here
-- is sorted TEAM FIRST, then time, so one team reads about 1/teams of it.
--
-- The rollups are small (a year for 1,000 reps: 0.5-1.4M rows), so their
-- granules are 1,024 rows: at 8,192 one team's rows of a month shared a
-- granule with other teams' and one team read ~40 % of the table.
--
-- Each rollup is filled by a view on the table it summarises, with its own
-- dedup window (replays are dropped here too, as in 002 and 005). Rows
-- stored before this migration are copied once by the INSERT ... SELECT
-- that precedes each view, guarded by "the rollup is empty" so a re-run
-- of a half-applied migration does not copy twice. The copy sees the rows
-- present when it runs: the ClickHouse sink migrates at startup, before it
-- writes; with several writers, start one new binary first. On a cluster
-- the copy covers the shard it runs on (docs/clickhouse-tables.md).
-- docs/kbis.md lists what is approximate.

-- Interactions per team, hour, channel, type and direction: no rep. The
-- per-minute, per-rep activity_per_minute held ~1 interaction per row.
CREATE TABLE IF NOT EXISTS {{.DB}}.activity_hourly {{onCluster}}
(
    hour         DateTime('UTC'),
    team_id      String,
    channel      LowCardinality(String),
    type         LowCardinality(String),
    direction    LowCardinality(String),
    interactions SimpleAggregateFunction(sum, UInt64),
    duration_s   SimpleAggregateFunction(sum, Float64)
)
ENGINE = {{mergeTree "AggregatingMergeTree"}}
PARTITION BY toYYYYMM(hour)
ORDER BY (team_id, hour, channel, type, direction)
SETTINGS {{dedupWindow 10000}}, index_granularity = 1024;

INSERT INTO {{.DB}}.activity_hourly
SELECT toStartOfHour(minute) AS hour, team_id, channel, type, direction,
    sum(interactions) AS interactions, sum(duration_s) AS duration_s
FROM {{.DB}}.activity_per_minute
WHERE (SELECT count() FROM {{.DB}}.activity_hourly) = 0
GROUP BY hour, team_id, channel, type, direction;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.activity_hourly_mv {{onCluster}}
TO {{.DB}}.activity_hourly
AS SELECT
    toDateTime(toStartOfHour(occurred_at), 'UTC') AS hour,
    team_id,
    channel,
    type,
    direction,
    toUInt64(count())                  AS interactions,
    sum(ifNull(duration_s, 0))         AS duration_s
FROM {{.DB}}.interactions
GROUP BY hour, team_id, channel, type, direction;

-- Interactions per rep, local day and channel (activity_daily without type
-- and direction), team first: the "Activity per rep and channel" panel.
CREATE TABLE IF NOT EXISTS {{.DB}}.rep_channel_daily {{onCluster}}
(
    day          Date,
    team_id      String,
    rep_id       String,
    channel      LowCardinality(String),
    interactions SimpleAggregateFunction(sum, UInt64)
)
ENGINE = {{mergeTree "AggregatingMergeTree"}}
PARTITION BY toYYYYMM(day)
ORDER BY (team_id, day, rep_id, channel)
SETTINGS {{dedupWindow 10000}}, index_granularity = 1024;

INSERT INTO {{.DB}}.rep_channel_daily
SELECT day, team_id, rep_id, channel, sum(interactions) AS interactions
FROM {{.DB}}.activity_daily
WHERE (SELECT count() FROM {{.DB}}.rep_channel_daily) = 0
GROUP BY day, team_id, rep_id, channel;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.rep_channel_daily_mv {{onCluster}}
TO {{.DB}}.rep_channel_daily
AS SELECT day, team_id, rep_id, channel, sum(interactions) AS interactions
FROM {{.DB}}.activity_daily
GROUP BY day, team_id, rep_id, channel;

-- One row per rep and local day: the activity sums kbi_activity_daily
-- shows AND a uniq state of the accounts touched, filled by two views
-- (activity_daily leaves accounts empty, rep_accounts_daily leaves the
-- sums 0), so the KBI view is one GROUP BY instead of a join of two
-- 250k-row aggregations and an exact distinct count over ~25M rows a year.
CREATE TABLE IF NOT EXISTS {{.DB}}.rep_activity_daily {{onCluster}}
(
    day          Date,
    team_id      String,
    rep_id       String,
    interactions SimpleAggregateFunction(sum, UInt64),
    inbound      SimpleAggregateFunction(sum, UInt64),
    outbound     SimpleAggregateFunction(sum, UInt64),
    emails       SimpleAggregateFunction(sum, UInt64),
    calls        SimpleAggregateFunction(sum, UInt64),
    meetings     SimpleAggregateFunction(sum, UInt64),
    social       SimpleAggregateFunction(sum, UInt64),
    chats        SimpleAggregateFunction(sum, UInt64),
    call_s       SimpleAggregateFunction(sum, Float64),
    accounts     AggregateFunction(uniq, String) COMMENT 'accounts touched; uniqMerge over any range of days'
)
ENGINE = {{mergeTree "AggregatingMergeTree"}}
PARTITION BY toYYYYMM(day)
ORDER BY (team_id, day, rep_id)
SETTINGS {{dedupWindow 10000}}, index_granularity = 1024;

INSERT INTO {{.DB}}.rep_activity_daily
SELECT * FROM
(
    SELECT day, team_id, rep_id,
        sum(n)                                              AS interactions,
        sumIf(n, direction = 'inbound')                     AS inbound,
        sumIf(n, direction = 'outbound')                    AS outbound,
        sumIf(n, channel = 'email')                         AS emails,
        sumIf(n, type IN ('call.inbound', 'call.outbound')) AS calls,
        sumIf(n, type = 'meeting.held')                     AS meetings,
        sumIf(n, channel = 'social')                        AS social,
        sumIf(n, channel = 'chat')                          AS chats,
        sumIf(d, type IN ('call.inbound', 'call.outbound')) AS call_s,
        arrayReduce('uniqState', CAST([], 'Array(String)')) AS accounts
    FROM (SELECT day, team_id, rep_id, channel, type, direction, interactions AS n, duration_s AS d FROM {{.DB}}.activity_daily)
    GROUP BY day, team_id, rep_id
    UNION ALL
    SELECT day, team_id, rep_id, toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0),
        toUInt64(0), toUInt64(0), toUInt64(0), toFloat64(0), uniqState(account_id) AS accounts
    FROM {{.DB}}.rep_accounts_daily
    GROUP BY day, team_id, rep_id
)
WHERE (SELECT count() FROM {{.DB}}.rep_activity_daily) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.rep_activity_daily_sums_mv {{onCluster}}
TO {{.DB}}.rep_activity_daily
AS SELECT day, team_id, rep_id,
    sum(n)                                              AS interactions,
    sumIf(n, direction = 'inbound')                     AS inbound,
    sumIf(n, direction = 'outbound')                    AS outbound,
    sumIf(n, channel = 'email')                         AS emails,
    sumIf(n, type IN ('call.inbound', 'call.outbound')) AS calls,
    sumIf(n, type = 'meeting.held')                     AS meetings,
    sumIf(n, channel = 'social')                        AS social,
    sumIf(n, channel = 'chat')                          AS chats,
    sumIf(d, type IN ('call.inbound', 'call.outbound')) AS call_s
FROM (SELECT day, team_id, rep_id, channel, type, direction, interactions AS n, duration_s AS d FROM {{.DB}}.activity_daily)
GROUP BY day, team_id, rep_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.rep_activity_daily_accounts_mv {{onCluster}}
TO {{.DB}}.rep_activity_daily
AS SELECT day, team_id, rep_id, uniqState(account_id) AS accounts
FROM {{.DB}}.rep_accounts_daily
GROUP BY day, team_id, rep_id;

-- The same columns and rows as 005's view (a rep-day appears when it has
-- activity), from the rollup: accounts_touched is uniq, not uniqExact
-- (docs/kbis.md gives the measured error: none at these sizes).
CREATE OR REPLACE VIEW {{.DB}}.kbi_activity_daily {{onCluster}}
AS SELECT
    day, team_id, rep_id,
    sum(interactions) AS interactions, sum(inbound) AS inbound, sum(outbound) AS outbound,
    sum(emails) AS emails, sum(calls) AS calls, sum(meetings) AS meetings, sum(social) AS social,
    sum(chats) AS chats, sum(call_s) / 60 AS call_minutes, toUInt64(uniqMerge(accounts)) AS accounts_touched
FROM {{.DB}}.rep_activity_daily
GROUP BY day, team_id, rep_id
HAVING interactions > 0;

-- Lead response per team, local day, OWNER and trigger channel: the
-- responder split of lead_response_daily multiplied the rows and the
-- quantile states the dashboard merges. Quantiles stay exact.
CREATE TABLE IF NOT EXISTS {{.DB}}.lead_response_owner_daily {{onCluster}}
(
    day                Date,
    team_id            String,
    owner_rep_id       String,
    trigger_channel    LowCardinality(String),
    leads              SimpleAggregateFunction(sum, UInt64),
    answered           SimpleAggregateFunction(sum, UInt64),
    unanswered         SimpleAggregateFunction(sum, UInt64),
    response_s_sum     SimpleAggregateFunction(sum, Float64),
    response_s_max     SimpleAggregateFunction(max, Float64),
    business_answered  SimpleAggregateFunction(sum, UInt64),
    business_s_sum     SimpleAggregateFunction(sum, Float64),
    response_q_exact   AggregateFunction(quantilesExact(0.5, 0.9, 0.99), Float64),
    business_q_exact   AggregateFunction(quantilesExact(0.5, 0.9, 0.99), Float64)
)
ENGINE = {{mergeTree "AggregatingMergeTree"}}
PARTITION BY toYYYYMM(day)
ORDER BY (team_id, day, owner_rep_id, trigger_channel)
SETTINGS {{dedupWindow 10000}}, index_granularity = 1024;

INSERT INTO {{.DB}}.lead_response_owner_daily
SELECT
    day, team_id, owner_rep_id, trigger_channel,
    toUInt64(count())                                  AS leads,
    toUInt64(countIf(is_answered = 1))                 AS answered,
    toUInt64(countIf(is_answered = 0))                 AS unanswered,
    sum(ifNull(response_s, 0))                         AS response_s_sum,
    max(ifNull(response_s, 0))                         AS response_s_max,
    toUInt64(countIf(business_s IS NOT NULL))          AS business_answered,
    sum(ifNull(business_s, 0))                         AS business_s_sum,
    quantilesExactStateIf(0.5, 0.9, 0.99)(ifNull(response_s, 0), is_answered = 1)        AS response_q_exact,
    quantilesExactStateIf(0.5, 0.9, 0.99)(ifNull(business_s, 0), business_s IS NOT NULL) AS business_q_exact
FROM {{.DB}}.lead_response_facts
WHERE (SELECT count() FROM {{.DB}}.lead_response_owner_daily) = 0
GROUP BY day, team_id, owner_rep_id, trigger_channel;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.lead_response_owner_daily_mv {{onCluster}}
TO {{.DB}}.lead_response_owner_daily
AS SELECT
    day, team_id, owner_rep_id, trigger_channel,
    toUInt64(count())                                  AS leads,
    toUInt64(countIf(is_answered = 1))                 AS answered,
    toUInt64(countIf(is_answered = 0))                 AS unanswered,
    sum(ifNull(response_s, 0))                         AS response_s_sum,
    max(ifNull(response_s, 0))                         AS response_s_max,
    toUInt64(countIf(business_s IS NOT NULL))          AS business_answered,
    sum(ifNull(business_s, 0))                         AS business_s_sum,
    quantilesExactStateIf(0.5, 0.9, 0.99)(ifNull(response_s, 0), is_answered = 1)        AS response_q_exact,
    quantilesExactStateIf(0.5, 0.9, 0.99)(ifNull(business_s, 0), business_s IS NOT NULL) AS business_q_exact
FROM {{.DB}}.lead_response_facts
GROUP BY day, team_id, owner_rep_id, trigger_channel;

-- kbi_response_time_daily per owner-day: final rows from the rollup
-- (provisional = 0), then the live provisional pairs (provisional = 1),
-- as 007 does for the responder grain.
CREATE VIEW IF NOT EXISTS {{.DB}}.kbi_response_owner_daily {{onCluster}}
AS SELECT
    day, team_id, owner_rep_id, trigger_channel AS channel,
    sum(leads)                                           AS leads,
    sum(answered)                                        AS answered,
    sum(unanswered)                                      AS unanswered,
    if(answered = 0, NULL, sum(response_s_sum) / answered) AS response_avg_s,
    max(response_s_max)                                  AS response_max_s,
    quantilesExactMerge(0.5, 0.9, 0.99)(response_q_exact) AS response_q_exact_s,
    response_q_exact_s[1]                                AS response_p50_s,
    response_q_exact_s[2]                                AS response_p90_s,
    response_q_exact_s[3]                                AS response_p99_s,
    toUInt8(0)                                           AS provisional
FROM {{.DB}}.lead_response_owner_daily
GROUP BY day, team_id, owner_rep_id, trigger_channel
UNION ALL
SELECT
    day, team_id, owner_rep_id, trigger_channel AS channel,
    toUInt64(count())                                    AS leads,
    toUInt64(count())                                    AS answered,
    toUInt64(0)                                          AS unanswered,
    if(answered = 0, NULL, sum(ifNull(response_s, 0)) / answered) AS response_avg_s,
    max(ifNull(response_s, 0))                           AS response_max_s,
    quantilesExact(0.5, 0.9, 0.99)(ifNull(response_s, 0)) AS response_q_exact_s,
    response_q_exact_s[1]                                AS response_p50_s,
    response_q_exact_s[2]                                AS response_p90_s,
    response_q_exact_s[3]                                AS response_p99_s,
    toUInt8(1)                                           AS provisional
FROM {{.DB}}.lead_response_provisional FINAL
GROUP BY day, team_id, owner_rep_id, trigger_channel;

-- Market signals (account.signal interactions) on their own: the
-- unmatched_signals view (010) read interactions FINAL, every event of the
-- range, to find the few signals. Same key and engine as interactions, so
-- FINAL collapses a signal delivered twice as it did there.
CREATE TABLE IF NOT EXISTS {{.DB}}.account_signals {{onCluster}}
(
    occurred_at  DateTime64(3, 'UTC'),
    event_id     String,
    source       LowCardinality(String),
    account_id   String,
    kind         String,
    domain       String,
    company      String,
    url          String,
    ingested_at  DateTime64(3, 'UTC')
)
ENGINE = {{mergeTree "ReplacingMergeTree" "ingested_at"}}
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (toDate(occurred_at), source, event_id)
SETTINGS {{dedupWindow 10000}};

INSERT INTO {{.DB}}.account_signals
SELECT occurred_at, event_id, source, account_id, attributes['signal_kind'], attributes['signal_domain'],
    attributes['signal_company'], attributes['signal_url'], ingested_at
FROM {{.DB}}.interactions
WHERE type = 'account.signal' AND (SELECT count() FROM {{.DB}}.account_signals) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.account_signals_mv {{onCluster}}
TO {{.DB}}.account_signals
AS SELECT occurred_at, event_id, source, account_id,
    attributes['signal_kind']     AS kind,
    attributes['signal_domain']   AS domain,
    attributes['signal_company']  AS company,
    attributes['signal_url']      AS url,
    ingested_at
FROM {{.DB}}.interactions
WHERE type = 'account.signal';

CREATE OR REPLACE VIEW {{.DB}}.unmatched_signals {{onCluster}} AS
SELECT occurred_at, event_id, source, account_id, kind, domain, company, url, ingested_at
FROM {{.DB}}.account_signals FINAL
WHERE NOT (domain != '' AND (domain, kind) IN (
        SELECT `values`['signal_domain'], `values`['kind'] FROM {{.DB}}.alerts WHERE rule = 'market_signal'))
  AND NOT (account_id != '' AND (account_id, kind) IN (
        SELECT `values`['account_id'], `values`['kind'] FROM {{.DB}}.alerts WHERE rule = 'market_signal'));

-- The fact tables (and the alert log) the panels filter by team and time keep a team-first copy
-- of their rows (projections: ClickHouse picks them when they read fewer
-- granules). MATERIALIZE builds them for rows stored before.
ALTER TABLE {{.DB}}.lead_response_facts {{onCluster}} ADD PROJECTION IF NOT EXISTS by_team (SELECT * ORDER BY team_id, day);
ALTER TABLE {{.DB}}.lead_response_facts {{onCluster}} MATERIALIZE PROJECTION by_team;
ALTER TABLE {{.DB}}.deal_facts {{onCluster}} ADD PROJECTION IF NOT EXISTS by_team (SELECT * ORDER BY team_id, day);
ALTER TABLE {{.DB}}.deal_facts {{onCluster}} MATERIALIZE PROJECTION by_team;
ALTER TABLE {{.DB}}.alert_transitions {{onCluster}} ADD PROJECTION IF NOT EXISTS by_team (SELECT * ORDER BY team_id, at);
ALTER TABLE {{.DB}}.alert_transitions {{onCluster}} MATERIALIZE PROJECTION by_team;
