-- Event-time KBIs (pipeline/window, docs/kbis.md). The window stage pairs
-- events in Go and inserts FACTS, one row per finalised pair, per batch,
-- with the batch's insert_deduplication_token; ClickHouse aggregates them.
-- A replayed batch carries the same token and is dropped here AND in every
-- view below: each target has its own dedup window, and the sink inserts
-- with deduplicate_blocks_in_dependent_materialized_views=1.
--
-- "day" is always the local date in the team's time zone (org file), so it
-- is computed in Go: ClickHouse's toDate(t, tz) needs a constant zone.

-- One row per lead trigger that was answered or expired unanswered.
CREATE TABLE IF NOT EXISTS {{.DB}}.lead_response_facts {{onCluster}}
(
    day               Date COMMENT 'trigger day in the team time zone',
    trigger_at        DateTime64(3, 'UTC'),
    lead_id           String,
    trigger_event_id  String,
    trigger_type      LowCardinality(String),
    trigger_channel   LowCardinality(String),
    owner_rep_id      String COMMENT 'rep on the trigger event (lead owner); empty when unassigned',
    team_id           String COMMENT 'team of the trigger, else of its rep in the org file',
    time_zone         LowCardinality(String),
    is_answered       UInt8,
    responder_rep_id  String,
    response_event_id String,
    response_at       Nullable(DateTime64(3, 'UTC')),
    response_type     LowCardinality(String),
    response_channel  LowCardinality(String),
    response_s        Nullable(Float64) COMMENT 'wall-clock seconds; NULL when unanswered',
    business_s        Nullable(Float64) COMMENT 'seconds within the team business-hours calendar; NULL without calendar or answer'
)
ENGINE = {{mergeTree "MergeTree"}}
PARTITION BY toYYYYMM(day)
ORDER BY (day, team_id, lead_id, trigger_event_id)
SETTINGS {{dedupWindow 10000}};

CREATE TABLE IF NOT EXISTS {{.DB}}.lead_response_daily {{onCluster}}
(
    day                Date,
    team_id            String,
    owner_rep_id       String,
    responder_rep_id   String,
    trigger_channel    LowCardinality(String),
    leads              SimpleAggregateFunction(sum, UInt64),
    answered           SimpleAggregateFunction(sum, UInt64),
    unanswered         SimpleAggregateFunction(sum, UInt64),
    response_s_sum     SimpleAggregateFunction(sum, Float64),
    response_s_max     SimpleAggregateFunction(max, Float64),
    business_answered  SimpleAggregateFunction(sum, UInt64),
    business_s_sum     SimpleAggregateFunction(sum, Float64),
    response_q_exact   AggregateFunction(quantilesExact(0.5, 0.9, 0.99), Float64),
    response_q_tdigest AggregateFunction(quantilesTDigest(0.5, 0.9, 0.99), Float64),
    business_q_exact   AggregateFunction(quantilesExact(0.5, 0.9, 0.99), Float64)
)
ENGINE = {{mergeTree "AggregatingMergeTree"}}
PARTITION BY toYYYYMM(day)
ORDER BY (day, team_id, owner_rep_id, responder_rep_id, trigger_channel)
SETTINGS {{dedupWindow 10000}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.lead_response_daily_mv {{onCluster}}
TO {{.DB}}.lead_response_daily
AS SELECT
    day, team_id, owner_rep_id, responder_rep_id, trigger_channel,
    toUInt64(count())                                  AS leads,
    toUInt64(countIf(is_answered = 1))                 AS answered,
    toUInt64(countIf(is_answered = 0))                 AS unanswered,
    sum(ifNull(response_s, 0))                         AS response_s_sum,
    max(ifNull(response_s, 0))                         AS response_s_max,
    toUInt64(countIf(business_s IS NOT NULL))          AS business_answered,
    sum(ifNull(business_s, 0))                         AS business_s_sum,
    quantilesExactStateIf(0.5, 0.9, 0.99)(ifNull(response_s, 0), is_answered = 1)        AS response_q_exact,
    quantilesTDigestStateIf(0.5, 0.9, 0.99)(ifNull(response_s, 0), is_answered = 1)      AS response_q_tdigest,
    quantilesExactStateIf(0.5, 0.9, 0.99)(ifNull(business_s, 0), business_s IS NOT NULL) AS business_q_exact
FROM {{.DB}}.lead_response_facts
GROUP BY day, team_id, owner_rep_id, responder_rep_id, trigger_channel;

-- One row per approval request that was decided or expired undecided.
CREATE TABLE IF NOT EXISTS {{.DB}}.approval_facts {{onCluster}}
(
    day               Date COMMENT 'request day in the team time zone',
    requested_at      DateTime64(3, 'UTC'),
    approval_id       String,
    request_event_id  String,
    rep_id            String COMMENT 'the rep who asked',
    team_id           String,
    time_zone         LowCardinality(String),
    outcome           LowCardinality(String) COMMENT 'approved, rejected or expired',
    approver_id       String,
    decision_event_id String,
    decided_at        Nullable(DateTime64(3, 'UTC')),
    latency_s         Nullable(Float64)
)
ENGINE = {{mergeTree "MergeTree"}}
PARTITION BY toYYYYMM(day)
ORDER BY (day, team_id, approval_id, request_event_id)
SETTINGS {{dedupWindow 10000}};

CREATE TABLE IF NOT EXISTS {{.DB}}.approvals_daily {{onCluster}}
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
ORDER BY (day, team_id, rep_id, approver_id)
SETTINGS {{dedupWindow 10000}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.approvals_daily_mv {{onCluster}}
TO {{.DB}}.approvals_daily
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

-- Activity per local day, partial sums per batch computed by the window
-- stage (late events excluded). Read with sum(...) GROUP BY.
CREATE TABLE IF NOT EXISTS {{.DB}}.activity_daily {{onCluster}}
(
    day          Date,
    team_id      String,
    rep_id       String,
    channel      LowCardinality(String),
    type         LowCardinality(String),
    direction    LowCardinality(String),
    interactions SimpleAggregateFunction(sum, UInt64),
    duration_s   SimpleAggregateFunction(sum, Float64)
)
ENGINE = {{mergeTree "AggregatingMergeTree"}}
PARTITION BY toYYYYMM(day)
ORDER BY (day, team_id, rep_id, channel, type, direction)
SETTINGS {{dedupWindow 10000}};

-- Accounts a rep touched per local day (distinct per batch; read with
-- uniqExact(account_id), which also collapses rows of different batches).
CREATE TABLE IF NOT EXISTS {{.DB}}.rep_accounts_daily {{onCluster}}
(
    day        Date,
    team_id    String,
    rep_id     String,
    account_id String
)
ENGINE = {{mergeTree "ReplacingMergeTree"}}
PARTITION BY toYYYYMM(day)
ORDER BY (day, team_id, rep_id, account_id)
SETTINGS {{dedupWindow 10000}};

-- One row per quote, won deal and lost deal (low volume: views aggregate
-- these facts directly).
CREATE TABLE IF NOT EXISTS {{.DB}}.deal_facts {{onCluster}}
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
ORDER BY (day, team_id, rep_id, type, event_id)
SETTINGS {{dedupWindow 10000}};

CREATE VIEW IF NOT EXISTS {{.DB}}.kbi_response_time_daily {{onCluster}}
AS SELECT
    day, team_id, owner_rep_id, responder_rep_id, trigger_channel AS channel,
    sum(leads)                                           AS leads,
    sum(answered)                                        AS answered,
    sum(unanswered)                                      AS unanswered,
    if(answered = 0, NULL, sum(response_s_sum) / answered) AS response_avg_s,
    max(response_s_max)                                  AS response_max_s,
    quantilesExactMerge(0.5, 0.9, 0.99)(response_q_exact)     AS response_q_exact_s,
    quantilesTDigestMerge(0.5, 0.9, 0.99)(response_q_tdigest) AS response_q_tdigest_s,
    response_q_exact_s[1]                                AS response_p50_s,
    response_q_exact_s[2]                                AS response_p90_s,
    response_q_exact_s[3]                                AS response_p99_s,
    sum(business_answered)                               AS business_answered,
    if(business_answered = 0, NULL, sum(business_s_sum) / business_answered) AS business_avg_s,
    quantilesExactMerge(0.5, 0.9, 0.99)(business_q_exact) AS business_q_exact_s
FROM {{.DB}}.lead_response_daily
GROUP BY day, team_id, owner_rep_id, responder_rep_id, trigger_channel;

CREATE VIEW IF NOT EXISTS {{.DB}}.kbi_approvals_daily {{onCluster}}
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
    quantilesTDigestMerge(0.5, 0.9, 0.99)(latency_q_tdigest) AS latency_q_tdigest_s
FROM {{.DB}}.approvals_daily
GROUP BY day, team_id, rep_id, approver_id;

CREATE VIEW IF NOT EXISTS {{.DB}}.kbi_activity_daily {{onCluster}}
AS SELECT
    a.day AS day, a.team_id AS team_id, a.rep_id AS rep_id,
    a.n AS interactions, a.n_in AS inbound, a.n_out AS outbound, a.n_email AS emails, a.n_call AS calls,
    a.n_meeting AS meetings, a.n_social AS social, a.n_chat AS chats,
    a.call_min AS call_minutes, ifNull(c.n_accounts, 0) AS accounts_touched
FROM
(
    SELECT day, team_id, rep_id,
        sum(interactions)                                   AS n,
        sumIf(interactions, direction = 'inbound')          AS n_in,
        sumIf(interactions, direction = 'outbound')         AS n_out,
        sumIf(interactions, channel = 'email')              AS n_email,
        sumIf(interactions, type IN ('call.inbound', 'call.outbound')) AS n_call,
        sumIf(interactions, type = 'meeting.held')          AS n_meeting,
        sumIf(interactions, channel = 'social')             AS n_social,
        sumIf(interactions, channel = 'chat')               AS n_chat,
        sumIf(duration_s, type IN ('call.inbound', 'call.outbound')) / 60 AS call_min
    FROM {{.DB}}.activity_daily
    GROUP BY day, team_id, rep_id
) AS a
LEFT JOIN
(
    SELECT day, team_id, rep_id, toUInt64(uniqExact(account_id)) AS n_accounts
    FROM {{.DB}}.rep_accounts_daily
    GROUP BY day, team_id, rep_id
) AS c ON a.day = c.day AND a.team_id = c.team_id AND a.rep_id = c.rep_id
SETTINGS join_use_nulls = 1;

CREATE VIEW IF NOT EXISTS {{.DB}}.kbi_discounts_daily {{onCluster}}
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
FROM {{.DB}}.deal_facts
WHERE type = 'quote.created'
GROUP BY day, team_id, rep_id, currency;

CREATE VIEW IF NOT EXISTS {{.DB}}.kbi_deals_daily {{onCluster}}
AS SELECT
    day, team_id, rep_id, currency,
    toUInt64(countIf(type = 'deal.won'))                 AS won,
    toUInt64(countIf(type = 'deal.lost'))                AS lost,
    if(won + lost = 0, NULL, won / (won + lost))         AS win_rate,
    sumIf(ifNull(amount, 0), type = 'deal.won')          AS won_amount,
    sumIf(ifNull(amount, 0), type = 'deal.lost')         AS lost_amount
FROM {{.DB}}.deal_facts
WHERE type IN ('deal.won', 'deal.lost')
GROUP BY day, team_id, rep_id, currency;
