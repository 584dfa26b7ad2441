-- The panels migration 012 left over the goals of issue 17 (every panel
-- <= 0.5 s on a year for 1,000 reps, one team reading <= 10 % of the rows).
-- Backfills as in 012: each rollup is copied once from what is stored,
-- guarded by "the rollup is empty", before its view is created.

-- Accounts a rep touched per calendar month (local days): a uniq state per
-- rep and month. "Rep activity" and "Accounts per rep vs target" show the
-- distinct accounts over the range; merging one state per rep and day
-- (250 a year, ~100 accounts each) was most of their time. A range takes
-- its whole months from here and its edge days from rep_activity_daily;
-- uniq's result depends only on the set of values, so the merge gives the
-- same figure as the daily states over the whole range.
CREATE TABLE IF NOT EXISTS {{.DB}}.rep_accounts_monthly {{onCluster}}
(
    month        Date,
    team_id      String,
    rep_id       String,
    accounts     AggregateFunction(uniq, String) COMMENT 'accounts touched in the month; uniqMerge over any set of months'
)
ENGINE = {{mergeTree "AggregatingMergeTree"}}
PARTITION BY toYear(month)
ORDER BY (team_id, month, rep_id)
SETTINGS {{dedupWindow 10000}}, index_granularity = 256;

INSERT INTO {{.DB}}.rep_accounts_monthly
SELECT toStartOfMonth(day) AS month, team_id, rep_id, uniqState(account_id) AS accounts
FROM {{.DB}}.rep_accounts_daily
WHERE (SELECT count() FROM {{.DB}}.rep_accounts_monthly) = 0
GROUP BY month, team_id, rep_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.rep_accounts_monthly_mv {{onCluster}}
TO {{.DB}}.rep_accounts_monthly
AS SELECT toStartOfMonth(day) AS month, team_id, rep_id, uniqState(account_id) AS accounts
FROM {{.DB}}.rep_accounts_daily
GROUP BY month, team_id, rep_id;

-- approvals_daily TEAM FIRST: sorted by day first, a one-team panel read
-- all of it. Small (a year for 1,000 reps: 125k rows), so 256-row
-- granules: one team's rows of a month are ~100. approvals_daily stays
-- (same views, same rows); kbi_approvals_daily and the panels read this.
CREATE TABLE IF NOT EXISTS {{.DB}}.approvals_team_daily {{onCluster}}
(
    day               Date,
    team_id           String,
    rep_id            String,
    approver_id       String,
    requests          SimpleAggregateFunction(sum, UInt64),
    approved          SimpleAggregateFunction(sum, UInt64),
    rejected          SimpleAggregateFunction(sum, UInt64),
    expired           SimpleAggregateFunction(sum, UInt64),
    within_24h        SimpleAggregateFunction(sum, UInt64),
    latency_s_sum     SimpleAggregateFunction(sum, Float64),
    latency_s_max     SimpleAggregateFunction(max, Float64),
    latency_q_exact   AggregateFunction(quantilesExact(0.5, 0.9, 0.99), Float64),
    latency_q_tdigest AggregateFunction(quantilesTDigest(0.5, 0.9, 0.99), Float64)
)
ENGINE = {{mergeTree "AggregatingMergeTree"}}
PARTITION BY toYYYYMM(day)
ORDER BY (team_id, day, rep_id, approver_id)
SETTINGS {{dedupWindow 10000}}, index_granularity = 256;

INSERT INTO {{.DB}}.approvals_team_daily
SELECT day, team_id, rep_id, approver_id, requests, approved, rejected, expired, within_24h,
    latency_s_sum, latency_s_max, latency_q_exact, latency_q_tdigest
FROM {{.DB}}.approvals_daily
WHERE (SELECT count() FROM {{.DB}}.approvals_team_daily) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.approvals_team_daily_mv {{onCluster}}
TO {{.DB}}.approvals_team_daily
AS SELECT
    day, team_id, rep_id, approver_id,
    toUInt64(count())                                  AS requests,
    toUInt64(countIf(outcome = 'approved'))            AS approved,
    toUInt64(countIf(outcome = 'rejected'))            AS rejected,
    toUInt64(countIf(outcome = 'expired'))             AS expired,
    toUInt64(countIf(outcome != 'expired' AND latency_s < 86400)) AS within_24h,
    sum(ifNull(latency_s, 0))                          AS latency_s_sum,
    max(ifNull(latency_s, 0))                          AS latency_s_max,
    quantilesExactStateIf(0.5, 0.9, 0.99)(ifNull(latency_s, 0), outcome != 'expired')   AS latency_q_exact,
    quantilesTDigestStateIf(0.5, 0.9, 0.99)(ifNull(latency_s, 0), outcome != 'expired') AS latency_q_tdigest
FROM {{.DB}}.approval_facts
GROUP BY day, team_id, rep_id, approver_id;

-- 007's view, final rows from the team-first copy.
CREATE OR REPLACE VIEW {{.DB}}.kbi_approvals_daily {{onCluster}}
AS SELECT
    day, team_id, rep_id, approver_id,
    sum(requests)                                        AS requests,
    sum(approved)                                        AS approved,
    sum(rejected)                                        AS rejected,
    approved + rejected                                  AS decided,
    sum(expired)                                         AS expired,
    if(decided = 0, NULL, approved / decided)            AS approval_rate,
    sum(within_24h)                                      AS decided_within_24h,
    if(decided = 0, NULL, sum(latency_s_sum) / decided)  AS latency_avg_s,
    max(latency_s_max)                                   AS latency_max_s,
    quantilesExactMerge(0.5, 0.9, 0.99)(latency_q_exact)     AS latency_q_exact_s,
    quantilesTDigestMerge(0.5, 0.9, 0.99)(latency_q_tdigest) AS latency_q_tdigest_s,
    toUInt8(0)                                           AS provisional
FROM {{.DB}}.approvals_team_daily
GROUP BY day, team_id, rep_id, approver_id
UNION ALL
SELECT
    day, team_id, rep_id, approver_id,
    toUInt64(count())                                    AS requests,
    toUInt64(countIf(outcome = 'approved'))              AS approved,
    toUInt64(countIf(outcome = 'rejected'))              AS rejected,
    approved + rejected                                  AS decided,
    toUInt64(0)                                          AS expired,
    if(decided = 0, NULL, approved / decided)            AS approval_rate,
    toUInt64(countIf(latency_s < 86400))                 AS decided_within_24h,
    if(decided = 0, NULL, sum(ifNull(latency_s, 0)) / decided) AS latency_avg_s,
    max(ifNull(latency_s, 0))                            AS latency_max_s,
    quantilesExact(0.5, 0.9, 0.99)(ifNull(latency_s, 0))     AS latency_q_exact_s,
    quantilesTDigest(0.5, 0.9, 0.99)(ifNull(latency_s, 0))   AS latency_q_tdigest_s,
    toUInt8(1)                                           AS provisional
FROM {{.DB}}.approval_provisional FINAL
GROUP BY day, team_id, rep_id, approver_id;

-- kbi_forecast_accuracy for some teams: SELECT * FROM
-- kbi_forecast_accuracy_teams(teams = ['team-a', 'team-b']) (['__all']: every
-- team). The same view with the team filter inside, before the window
-- functions: ClickHouse does not push a filter from outside through them,
-- so a one-team panel on kbi_forecast_accuracy read all of deal_facts;
-- here the filter reaches both sides of the join.
CREATE VIEW IF NOT EXISTS {{.DB}}.kbi_forecast_accuracy_teams {{onCluster}}
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
        FROM {{.DB}}.deal_facts
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

-- kbi_forecast_accuracy is the same view for every team: one definition
-- of forecast accuracy, not two kept in step.
CREATE OR REPLACE VIEW {{.DB}}.kbi_forecast_accuracy {{onCluster}}
AS SELECT * FROM {{.DB}}.kbi_forecast_accuracy_teams(teams = ['__all']);
