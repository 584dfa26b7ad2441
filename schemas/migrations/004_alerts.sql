-- Alerts as they move through pending, firing and resolved. One row per
-- state change; ReplacingMergeTree(version) keeps the latest per id, so read
-- with FINAL (or argMax(..., version)) for the current state.
CREATE TABLE IF NOT EXISTS {{.DB}}.alerts {{onCluster}}
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
    version     UInt64 COMMENT 'orders rows of one id: event-time milliseconds of the change * 4 + state',
    ingested_at DateTime64(3, 'UTC')
)
ENGINE = {{mergeTree "ReplacingMergeTree" "version"}}
PARTITION BY toYYYYMM(at)
ORDER BY (rule, id)
SETTINGS {{dedupWindow 10000}};
