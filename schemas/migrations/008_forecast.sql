-- Forecast accuracy and accounts per rep (issue 16, docs/kbis.md
-- "Forecast accuracy" and "Accounts per rep").
--
-- The window stage writes one forecast_facts row per forecast.submitted,
-- with the period's first local day and the instant the period begins in
-- the team's time zone, both computed in Go (toDate(t, tz) needs a constant
-- zone). The view picks each period's snapshot, the last submission
-- strictly before the period begins, in SQL: a pure function of the rows,
-- whatever order they arrived in. Closed won comes from deal_facts, whose
-- day is the local day in the same team zone, so toStartOfMonth(day) /
-- toStartOfQuarter(day) put a deal in the period the team sees it in.

CREATE TABLE IF NOT EXISTS {{.DB}}.forecast_facts {{onCluster}}
(
    period_start    Date COMMENT 'first local day of the period',
    period_kind     LowCardinality(String) COMMENT 'month or quarter',
    period          String COMMENT 'as submitted: 2026-03 or 2026-Q2',
    period_start_at DateTime64(3, 'UTC') COMMENT 'the instant the period begins in the team time zone',
    submitted_at    DateTime64(3, 'UTC'),
    day             Date COMMENT 'submission day in the team time zone',
    event_id        String,
    team_id         String,
    rep_id          String COMMENT 'empty: the team forecast',
    category        LowCardinality(String) COMMENT 'commit, best_case or pipeline',
    currency        LowCardinality(String),
    amount          Float64,
    time_zone       LowCardinality(String)
)
ENGINE = {{mergeTree "MergeTree"}}
PARTITION BY toYear(period_start)
ORDER BY (team_id, period_kind, period_start, rep_id, category, submitted_at, event_id)
SETTINGS {{dedupWindow 10000}};

-- Per team targets from the org file, written by `salespulse run` at start
-- (clickhouse.Sink.WriteTeamTargets). The latest write per team wins.
CREATE TABLE IF NOT EXISTS {{.DB}}.team_targets {{onCluster}}
(
    team_id         String,
    accounts_target UInt32 COMMENT 'distinct accounts per rep and period; 0: none',
    updated_at      DateTime64(3, 'UTC')
)
ENGINE = {{mergeTree "ReplacingMergeTree" "updated_at"}}
ORDER BY team_id;

-- One row per (team, rep, period, category, currency) with a forecast
-- submitted for it; rep_id '' is the team's own forecast, compared with the
-- whole team's closed won. Amounts are summed as Decimal128(4), exact in
-- any order, and compared as Float64.
CREATE VIEW IF NOT EXISTS {{.DB}}.kbi_forecast_accuracy {{onCluster}}
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
    SETTINGS join_use_nulls = 1
)
WINDOW per_key AS (PARTITION BY team_id, rep_id, period_kind, category, currency ORDER BY period_start
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING);

-- Distinct accounts per rep and calendar month (local days), with the
-- team's target and the attainment.
CREATE VIEW IF NOT EXISTS {{.DB}}.kbi_accounts_per_rep_monthly {{onCluster}}
AS SELECT
    a.month AS month, a.team_id AS team_id, a.rep_id AS rep_id, a.accounts AS accounts, a.active_days AS active_days,
    if(ifNull(t.target, 0) = 0, NULL, t.target)          AS accounts_target,
    if(accounts_target IS NULL, NULL, a.accounts / accounts_target) AS attainment
FROM
(
    SELECT toStartOfMonth(day) AS month, team_id, rep_id,
        toUInt64(uniqExact(account_id)) AS accounts, toUInt64(uniqExact(day)) AS active_days
    FROM {{.DB}}.rep_accounts_daily
    GROUP BY month, team_id, rep_id
) AS a
LEFT JOIN
(
    SELECT team_id, argMax(accounts_target, updated_at) AS target
    FROM {{.DB}}.team_targets
    GROUP BY team_id
) AS t ON a.team_id = t.team_id
SETTINGS join_use_nulls = 1;

-- The same over any range of local days: SELECT * FROM
-- kbi_accounts_per_rep(from = '2026-01-01', to = '2026-04-01'), to exclusive.
CREATE VIEW IF NOT EXISTS {{.DB}}.kbi_accounts_per_rep {{onCluster}}
AS SELECT
    a.team_id AS team_id, a.rep_id AS rep_id, a.accounts AS accounts, a.active_days AS active_days,
    if(ifNull(t.target, 0) = 0, NULL, t.target)          AS accounts_target,
    if(accounts_target IS NULL, NULL, a.accounts / accounts_target) AS attainment
FROM
(
    SELECT team_id, rep_id, toUInt64(uniqExact(account_id)) AS accounts, toUInt64(uniqExact(day)) AS active_days
    FROM {{.DB}}.rep_accounts_daily
    WHERE day >= {from:Date} AND day < {to:Date}
    GROUP BY team_id, rep_id
) AS a
LEFT JOIN
(
    SELECT team_id, argMax(accounts_target, updated_at) AS target
    FROM {{.DB}}.team_targets
    GROUP BY team_id
) AS t ON a.team_id = t.team_id
SETTINGS join_use_nulls = 1;
