-- Team-first copies for the panels 013 left over issue 17's "one team reads
-- <= 10 % of the rows": the SLA panels, the discount and forecast panels,
-- "Alerts fired by rule", "Alerts feed" and "Market signals: tasks by
-- kind". 012's by_team projections have the tables' 8,192-row granules
-- and a one-team query reads at least one of them per part (14-49 % of
-- the rows); projection-level index_granularity needs a ClickHouse newer
-- than the compose file's 25.8. Tables of their own, team first with
-- 256-row granules, work on both.
--
-- As in 012 and 013: each table is filled by a view on its source, with
-- its own dedup window, and rows stored before this migration are copied
-- once by the guarded INSERT ... SELECT before the view is made. On a
-- cluster the copy covers the shard it runs on.

-- The SLA panels count the leads answered within a limit the user types
-- (sla_minutes), so no fixed bucket is exact. Per team, local day, owner
-- and trigger channel: the leads, and the answered ones' response seconds
-- (arrayCount(x -> x <= limit, answered_s) counts those within any
-- limit, exactly as countIf(response_s <= limit) over the facts; a lead
-- without an answer has a NULL response_s there and no element here).
CREATE TABLE IF NOT EXISTS {{.DB}}.lead_sla_owner_daily {{onCluster}}
(
    day              Date,
    team_id          String,
    owner_rep_id     String,
    trigger_channel  LowCardinality(String),
    leads            SimpleAggregateFunction(sum, UInt64),
    answered_s       SimpleAggregateFunction(groupArrayArray, Array(Float64)) COMMENT 'response_s of each answered lead, in no order'
)
ENGINE = {{mergeTree "AggregatingMergeTree"}}
PARTITION BY toYYYYMM(day)
ORDER BY (team_id, day, owner_rep_id, trigger_channel)
SETTINGS {{dedupWindow 10000}}, index_granularity = 256;

INSERT INTO {{.DB}}.lead_sla_owner_daily
SELECT day, team_id, owner_rep_id, trigger_channel,
    toUInt64(count())                                               AS leads,
    groupArrayIf(assumeNotNull(response_s), response_s IS NOT NULL) AS answered_s
FROM {{.DB}}.lead_response_facts
WHERE (SELECT count() FROM {{.DB}}.lead_sla_owner_daily) = 0
GROUP BY day, team_id, owner_rep_id, trigger_channel;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.lead_sla_owner_daily_mv {{onCluster}}
TO {{.DB}}.lead_sla_owner_daily
AS SELECT day, team_id, owner_rep_id, trigger_channel,
    toUInt64(count())                                               AS leads,
    groupArrayIf(assumeNotNull(response_s), response_s IS NOT NULL) AS answered_s
FROM {{.DB}}.lead_response_facts
GROUP BY day, team_id, owner_rep_id, trigger_channel;

-- deal_facts TEAM FIRST, every row and column: the discount panel,
-- kbi_discounts_daily, kbi_deals_daily and kbi_forecast_accuracy_teams
-- read it. A year for 1,000 reps is ~325k rows; one team's month ~270.
CREATE TABLE IF NOT EXISTS {{.DB}}.deal_facts_team {{onCluster}}
(
    day          Date,
    occurred_at  DateTime64(3, 'UTC'),
    event_id     String,
    type         LowCardinality(String) COMMENT 'quote.created, deal.won or deal.lost',
    rep_id       String,
    team_id      String,
    account_id   String,
    currency     LowCardinality(String),
    amount       Nullable(Float64),
    list_price   Nullable(Float64),
    discount_pct Nullable(Float64)
)
ENGINE = {{mergeTree "MergeTree"}}
PARTITION BY toYYYYMM(day)
ORDER BY (team_id, day, rep_id, type, event_id)
SETTINGS {{dedupWindow 10000}}, index_granularity = 256;

INSERT INTO {{.DB}}.deal_facts_team
SELECT day, occurred_at, event_id, type, rep_id, team_id, account_id, currency, amount, list_price, discount_pct
FROM {{.DB}}.deal_facts
WHERE (SELECT count() FROM {{.DB}}.deal_facts_team) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.deal_facts_team_mv {{onCluster}}
TO {{.DB}}.deal_facts_team
AS SELECT day, occurred_at, event_id, type, rep_id, team_id, account_id, currency, amount, list_price, discount_pct
FROM {{.DB}}.deal_facts;

-- 005's views, the same SQL on the team-first copy.
CREATE OR REPLACE VIEW {{.DB}}.kbi_discounts_daily {{onCluster}}
AS SELECT
    day, team_id, rep_id, currency,
    toUInt64(count())                                    AS quotes,
    toUInt64(countIf(discount_pct IS NOT NULL))          AS quotes_with_discount,
    avg(discount_pct)                                    AS discount_avg_pct,
    max(discount_pct)                                    AS discount_max_pct,
    quantilesExactIf(0.5, 0.9, 0.99)(ifNull(discount_pct, 0), discount_pct IS NOT NULL) AS discount_q_exact_pct,
    sumIf(ifNull(amount, 0), amount IS NOT NULL AND list_price IS NOT NULL)         AS quoted_amount,
    sumIf(ifNull(list_price, 0), amount IS NOT NULL AND list_price IS NOT NULL)     AS quoted_list_price,
    if(quoted_list_price = 0, NULL, 100 * (1 - quoted_amount / quoted_list_price)) AS discount_vs_list_pct
FROM {{.DB}}.deal_facts_team
WHERE type = 'quote.created'
GROUP BY day, team_id, rep_id, currency;

CREATE OR REPLACE VIEW {{.DB}}.kbi_deals_daily {{onCluster}}
AS SELECT
    day, team_id, rep_id, currency,
    toUInt64(countIf(type = 'deal.won'))                 AS won,
    toUInt64(countIf(type = 'deal.lost'))                AS lost,
    if(won + lost = 0, NULL, won / (won + lost))         AS win_rate,
    sumIf(ifNull(amount, 0), type = 'deal.won')          AS won_amount,
    sumIf(ifNull(amount, 0), type = 'deal.lost')         AS lost_amount
FROM {{.DB}}.deal_facts_team
WHERE type IN ('deal.won', 'deal.lost')
GROUP BY day, team_id, rep_id, currency;

-- 013's view, its won deals from the team-first copy: the team filter
-- it pushes into both sides of the join now prunes deal_facts_team by its
-- first key column. kbi_forecast_accuracy reads this view.
CREATE OR REPLACE VIEW {{.DB}}.kbi_forecast_accuracy_teams {{onCluster}}
AS SELECT
    team_id, rep_id, period_kind, period_start, period, category, currency,
    submissions, snapshot_submissions, snapshot_at, forecast, closed_won, won_deals,
    accuracy, bias,
    lagInFrame(accuracy, 1, NULL) OVER per_key                 AS prev_accuracy,
    accuracy - prev_accuracy                             AS accuracy_change,
    avg(accuracy) OVER (PARTITION BY team_id, rep_id, period_kind, category, currency ORDER BY period_start
        ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)        AS accuracy_avg_4
FROM
(
    SELECT
        f.team_id AS team_id, f.rep_id AS rep_id, f.period_kind AS period_kind, f.period_start AS period_start,
        f.period AS period, f.category AS category, f.currency AS currency,
        f.submissions AS submissions, f.snapshot_submissions AS snapshot_submissions,
        f.snapshot_at AS snapshot_at, f.forecast AS forecast,
        toFloat64(ifNull(w.won, toDecimal128(0, 4)))     AS closed_won,
        ifNull(w.deals, 0)                               AS won_deals,
        if(forecast IS NULL OR closed_won = 0, NULL, 1 - abs(forecast - closed_won) / closed_won) AS accuracy,
        if(forecast IS NULL OR closed_won = 0, NULL, (forecast - closed_won) / closed_won)        AS bias
    FROM
    (
        SELECT team_id, rep_id, period_kind, period_start, any(period) AS period, category, currency,
            toUInt64(count())                                      AS submissions,
            toUInt64(countIf(submitted_at < period_start_at))      AS snapshot_submissions,
            if(snapshot_submissions = 0, NULL, maxIf(submitted_at, submitted_at < period_start_at)) AS snapshot_at,
            if(snapshot_submissions = 0, NULL,
                argMaxIf(amount, (submitted_at, event_id), submitted_at < period_start_at))           AS forecast
        FROM {{.DB}}.forecast_facts
        GROUP BY team_id, rep_id, period_kind, period_start, category, currency
    ) AS f
    LEFT JOIN
    (
        SELECT team_id AS w_team, w_rep, w_kind,
            if(w_kind = 'month', toStartOfMonth(day), toStartOfQuarter(day)) AS w_start,
            currency AS w_currency,
            sum(toDecimal128(ifNull(amount, 0), 4))  AS won,
            toUInt64(count())                        AS deals
        FROM {{.DB}}.deal_facts_team
        ARRAY JOIN arrayDistinct([rep_id, '']) AS w_rep
        ARRAY JOIN ['month', 'quarter'] AS w_kind
        WHERE type = 'deal.won'
        GROUP BY w_team, w_rep, w_kind, w_start, w_currency
    ) AS w
    ON f.team_id = w.w_team AND f.rep_id = w.w_rep AND f.period_kind = w.w_kind
        AND f.period_start = w.w_start AND f.currency = w.w_currency
    WHERE has({teams:Array(String)}, '__all') OR has({teams:Array(String)}, f.team_id)
    SETTINGS join_use_nulls = 1
)
WINDOW per_key AS (PARTITION BY team_id, rep_id, period_kind, category, currency ORDER BY period_start
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING);

-- alert_transitions TEAM FIRST, every row: "Alerts fired by rule". Filled
-- from alert_transitions, so it holds what that log holds (alerts stored
-- before 011 are in neither).
CREATE TABLE IF NOT EXISTS {{.DB}}.alert_transitions_team {{onCluster}}
(
    at          DateTime64(3, 'UTC'),
    id          String,
    rule        LowCardinality(String),
    state       LowCardinality(String),
    severity    LowCardinality(String),
    team_id     String,
    rep_id      String,
    manager_id  String,
    version     UInt64
)
ENGINE = {{mergeTree "MergeTree"}}
PARTITION BY toYYYYMM(at)
ORDER BY (team_id, at, rule, id)
SETTINGS {{dedupWindow 10000}}, index_granularity = 256;

INSERT INTO {{.DB}}.alert_transitions_team
SELECT at, id, rule, state, severity, team_id, rep_id, manager_id, version
FROM {{.DB}}.alert_transitions
WHERE (SELECT count() FROM {{.DB}}.alert_transitions_team) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.alert_transitions_team_mv {{onCluster}}
TO {{.DB}}.alert_transitions_team
AS SELECT at, id, rule, state, severity, team_id, rep_id, manager_id, version
FROM {{.DB}}.alert_transitions;

-- alerts TEAM FIRST: "Alerts feed" and "Market signals: tasks by kind"
-- read each alert's latest state (FINAL), which a log cannot give and a
-- projection cannot serve. The same engine, version and partitions as
-- alerts, keyed (team, rule, id) instead of (rule, id): FINAL keeps the
-- same latest row per alert as long as an alert's team does not change.
-- The anomaly stage sets team_id when a detector creates the tracked
-- alert (detect.Partition.Who); every later row of it (firing, resolved,
-- an acknowledgement's update) is a copy, restored with it from the state
-- store. The same id is created again only when a source repeats a
-- subject the stage had finished with (the same quote event, a second
-- decision or a re-sent request for an approval): its team is derived
-- again from that event and the org file, and differs only if they now
-- name another team. Then the old team's row stays here while alerts
-- replaces it (docs/kbis.md).
-- The copy before the view takes alerts FINAL: its latest rows, the ones
-- alerts itself keeps among equal versions.
CREATE TABLE IF NOT EXISTS {{.DB}}.alerts_team {{onCluster}}
(
    id          String,
    rule        LowCardinality(String),
    state       LowCardinality(String),
    severity    LowCardinality(String),
    rep_id      String,
    team_id     String,
    manager_id  String,
    summary     String,
    event_ids   Array(String),
    `values`    Map(String, String),
    at          DateTime64(3, 'UTC'),
    ends_at     Nullable(DateTime64(3, 'UTC')),
    version     UInt64 COMMENT 'as in alerts: event-time milliseconds of the change * 4 + state',
    ingested_at DateTime64(3, 'UTC')
)
ENGINE = {{mergeTree "ReplacingMergeTree" "version"}}
PARTITION BY toYYYYMM(at)
ORDER BY (team_id, rule, id)
SETTINGS {{dedupWindow 10000}}, index_granularity = 256;

INSERT INTO {{.DB}}.alerts_team
SELECT id, rule, state, severity, rep_id, team_id, manager_id, summary, event_ids, `values`, at, ends_at, version, ingested_at
FROM {{.DB}}.alerts FINAL
WHERE (SELECT count() FROM {{.DB}}.alerts_team) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.alerts_team_mv {{onCluster}}
TO {{.DB}}.alerts_team
AS SELECT id, rule, state, severity, rep_id, team_id, manager_id, summary, event_ids, `values`, at, ends_at, version, ingested_at
FROM {{.DB}}.alerts;
