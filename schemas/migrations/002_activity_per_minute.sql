-- Activity per rep, team, channel, type, direction and minute, summed by
-- ClickHouse as interactions arrive. Rows of one key may be split over parts
-- until merged: always read with sum(...) GROUP BY.
--
-- The view sees every block inserted into interactions. A replayed block is
-- dropped from the view too only because the sink inserts with
-- deduplicate_blocks_in_dependent_materialized_views=1 AND this target has a
-- dedup window of its own; without either, replays are double-counted here.
CREATE TABLE IF NOT EXISTS {{.DB}}.activity_per_minute {{onCluster}}
(
    minute       DateTime('UTC'),
    rep_id       String,
    team_id      String,
    channel      LowCardinality(String),
    type         LowCardinality(String),
    direction    LowCardinality(String),
    interactions SimpleAggregateFunction(sum, UInt64),
    duration_s   SimpleAggregateFunction(sum, Float64)
)
ENGINE = {{mergeTree "AggregatingMergeTree"}}
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, team_id, rep_id, channel, type, direction)
SETTINGS {{dedupWindow 10000}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.activity_per_minute_mv {{onCluster}}
TO {{.DB}}.activity_per_minute
AS SELECT
    toDateTime(toStartOfMinute(occurred_at), 'UTC') AS minute,
    rep_id,
    team_id,
    channel,
    type,
    direction,
    toUInt64(count())                  AS interactions,
    sum(ifNull(duration_s, 0))         AS duration_s
FROM {{.DB}}.interactions
GROUP BY minute, rep_id, team_id, channel, type, direction;
