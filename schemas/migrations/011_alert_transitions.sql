-- Every alert state change, append only. `alerts` keeps only the latest
-- state of each id once ReplacingMergeTree merges, so counting its
-- `state = 'firing'` rows counted fewer alerts after every merge (6,782
-- firing before OPTIMIZE, 2 after, on one data set): panels that count
-- what fired over time read this log instead.
--
-- The view sees every block inserted into alerts. A replayed block is
-- dropped here too because the sink inserts with
-- deduplicate_blocks_in_dependent_materialized_views=1 and this target has
-- its own dedup window; count uniqExact(id) all the same. Alerts stored
-- before this migration are not copied (a migration runs once and must be
-- idempotent); their latest states stay in alerts.
CREATE TABLE IF NOT EXISTS {{.DB}}.alert_transitions {{onCluster}}
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
ORDER BY (rule, at, id)
SETTINGS {{dedupWindow 10000}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.alert_transitions_mv {{onCluster}}
TO {{.DB}}.alert_transitions
AS SELECT at, id, rule, state, severity, team_id, rep_id, manager_id, version
FROM {{.DB}}.alerts;
