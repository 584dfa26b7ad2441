-- Provisional response-time and approval facts (docs/kbis.md "Provisional
-- facts"). A final fact waits until no accepted event can change it
-- (out_of_orderness + allowed_lateness of event time); a provisional row is
-- written by the batch that brings the answer, and replaced or withdrawn
-- when a later batch changes the pair. Each row is keyed by the trigger
-- (request) event and versioned with the last offset of the batch that
-- wrote it: ReplacingMergeTree keeps a key's highest version, and
-- is_deleted = 1 (a tombstone, written when the pair turns final or loses
-- its trigger to an earlier one) hides the key from SELECT ... FINAL.
--
-- Not partitioned by day: a tombstone and the row it withdraws must meet in
-- one partition, whatever day the org file's zones gave each. Tombstones
-- stay until a cleanup merge (OPTIMIZE TABLE ... FINAL CLEANUP, allowed by
-- the setting below) drops them.

CREATE TABLE IF NOT EXISTS {{.DB}}.lead_response_provisional {{onCluster}}
(
    day               Date COMMENT 'trigger day in the team time zone',
    trigger_at        DateTime64(3, 'UTC'),
    lead_id           String,
    trigger_event_id  String,
    trigger_type      LowCardinality(String),
    trigger_channel   LowCardinality(String),
    owner_rep_id      String,
    team_id           String,
    time_zone         LowCardinality(String),
    is_answered       UInt8 COMMENT '1; 0 in tombstones',
    responder_rep_id  String,
    response_event_id String,
    response_at       Nullable(DateTime64(3, 'UTC')),
    response_type     LowCardinality(String),
    response_channel  LowCardinality(String),
    response_s        Nullable(Float64),
    business_s        Nullable(Float64),
    version           UInt64 COMMENT 'last Kafka offset of the batch that wrote the row',
    is_deleted        UInt8 COMMENT '1: tombstone, the key has no provisional pair any more'
)
ENGINE = {{mergeTree "ReplacingMergeTree" "version" "is_deleted"}}
ORDER BY (lead_id, trigger_event_id)
SETTINGS {{dedupWindow 10000}}, allow_experimental_replacing_merge_with_cleanup = 1;

CREATE TABLE IF NOT EXISTS {{.DB}}.approval_provisional {{onCluster}}
(
    day               Date COMMENT 'request day in the team time zone',
    requested_at      DateTime64(3, 'UTC'),
    approval_id       String,
    request_event_id  String,
    rep_id            String,
    team_id           String,
    time_zone         LowCardinality(String),
    outcome           LowCardinality(String) COMMENT 'approved or rejected; empty in tombstones',
    approver_id       String,
    decision_event_id String,
    decided_at        Nullable(DateTime64(3, 'UTC')),
    latency_s         Nullable(Float64),
    version           UInt64 COMMENT 'last Kafka offset of the batch that wrote the row',
    is_deleted        UInt8 COMMENT '1: tombstone, the key has no provisional pair any more'
)
ENGINE = {{mergeTree "ReplacingMergeTree" "version" "is_deleted"}}
ORDER BY (approval_id, request_event_id)
SETTINGS {{dedupWindow 10000}}, allow_experimental_replacing_merge_with_cleanup = 1;

-- The views of 005 with a provisional column: final rows from the rollups
-- (provisional = 0), then the same grouping over the live provisional rows
-- (provisional = 1). A key (day, team, ...) can have one row of each.
-- Sum both for "everything known now"; filter provisional = 0 for the
-- exact, final KBIs.
CREATE OR REPLACE VIEW {{.DB}}.kbi_response_time_daily {{onCluster}}
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
    quantilesExactMerge(0.5, 0.9, 0.99)(business_q_exact) AS business_q_exact_s,
    toUInt8(0)                                           AS provisional
FROM {{.DB}}.lead_response_daily
GROUP BY day, team_id, owner_rep_id, responder_rep_id, trigger_channel
UNION ALL
SELECT
    day, team_id, owner_rep_id, responder_rep_id, trigger_channel AS channel,
    toUInt64(count())                                    AS leads,
    toUInt64(count())                                    AS answered,
    toUInt64(0)                                          AS unanswered,
    if(answered = 0, NULL, sum(ifNull(response_s, 0)) / answered) AS response_avg_s,
    max(ifNull(response_s, 0))                           AS response_max_s,
    quantilesExact(0.5, 0.9, 0.99)(ifNull(response_s, 0))    AS response_q_exact_s,
    quantilesTDigest(0.5, 0.9, 0.99)(ifNull(response_s, 0))  AS response_q_tdigest_s,
    response_q_exact_s[1]                                AS response_p50_s,
    response_q_exact_s[2]                                AS response_p90_s,
    response_q_exact_s[3]                                AS response_p99_s,
    toUInt64(countIf(business_s IS NOT NULL))            AS business_answered,
    if(business_answered = 0, NULL, sum(ifNull(business_s, 0)) / business_answered) AS business_avg_s,
    quantilesExactIf(0.5, 0.9, 0.99)(ifNull(business_s, 0), business_s IS NOT NULL) AS business_q_exact_s,
    toUInt8(1)                                           AS provisional
FROM {{.DB}}.lead_response_provisional FINAL
GROUP BY day, team_id, owner_rep_id, responder_rep_id, trigger_channel;

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
FROM {{.DB}}.approvals_daily
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
