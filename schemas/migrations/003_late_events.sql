-- Events that arrived beyond the allowed lateness: stored for audit and
-- backfill, not counted in the rollups. Same columns as interactions plus
-- why the event was set aside.
CREATE TABLE IF NOT EXISTS {{.DB}}.late_events {{onCluster}}
(
    event_id           String,
    occurred_at        DateTime64(3, 'UTC'),
    source             LowCardinality(String),
    type               LowCardinality(String),
    direction          LowCardinality(String),
    channel            LowCardinality(String),
    rep_id             String,
    team_id            String,
    account_id         String,
    lead_id            String,
    approval_id        String,
    approver_id        String,
    stage              LowCardinality(String),
    currency           LowCardinality(String),
    duration_s         Nullable(Float64),
    amount             Nullable(Float64),
    list_price         Nullable(Float64),
    discount_pct       Nullable(Float64),
    approved           Nullable(Bool),
    contact_key        String COMMENT 'keyed pseudonym of the contact; never the raw e-mail, phone or name',
    attributes         Map(String, String),
    schema_version     UInt8,
    kafka_topic        LowCardinality(String),
    kafka_partition    Int32,
    kafka_first_offset Int64,
    kafka_last_offset  Int64,
    ingested_at        DateTime64(3, 'UTC'),
    reason             LowCardinality(String) COMMENT 'why the event was not windowed, e.g. beyond_allowed_lateness'
)
ENGINE = {{mergeTree "ReplacingMergeTree" "ingested_at"}}
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (toDate(occurred_at), source, event_id)
SETTINGS {{dedupWindow 10000}};
