-- The canonical interactions, one row per event, without raw personal data:
-- the contact appears only as contact_key, a keyed pseudonym.
--
-- ReplacingMergeTree(ingested_at) with event_id in the sorting key collapses
-- an event delivered twice under different offsets (a producer retry) at
-- merge time; a replay of the same offsets is dropped at insert time by the
-- sink's insert_deduplication_token, which needs the dedup window below.
CREATE TABLE IF NOT EXISTS {{.DB}}.interactions {{onCluster}}
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
    kafka_first_offset Int64 COMMENT 'first offset of the batch this row was inserted with',
    kafka_last_offset  Int64 COMMENT 'last offset of that batch; with topic and partition it names the insert_deduplication_token',
    ingested_at        DateTime64(3, 'UTC')
)
ENGINE = {{mergeTree "ReplacingMergeTree" "ingested_at"}}
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (toDate(occurred_at), source, event_id)
SETTINGS {{dedupWindow 10000}};
