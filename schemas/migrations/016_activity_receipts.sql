-- activity_daily's partial sums of many batches share one insert (the
-- ClickHouse sink's groups, docs/fault-tolerance.md rule 4). A replayed
-- batch must not add its sums twice, and merges fold its rows into
-- others', so the table itself cannot say whether a batch is stored: each
-- insert also leaves a receipt per (batch, month) here, written by a view
-- in the same insert, and a replayed batch looks for its receipts first.
-- The origin columns of activity_daily say which batch a row came from
-- until a merge folds it; rows stored before this migration have '' and 0.
ALTER TABLE {{.DB}}.activity_daily {{onCluster}}
    ADD COLUMN IF NOT EXISTS kafka_topic        LowCardinality(String) COMMENT 'topic of the batch this row was derived from (any of them once merged)',
    ADD COLUMN IF NOT EXISTS kafka_partition    Int32,
    ADD COLUMN IF NOT EXISTS kafka_first_offset Int64 COMMENT 'first offset of that batch',
    ADD COLUMN IF NOT EXISTS kafka_last_offset  Int64 COMMENT 'last offset of that batch';

CREATE TABLE IF NOT EXISTS {{.DB}}.activity_receipts {{onCluster}}
(
    kafka_topic        LowCardinality(String),
    kafka_partition    Int32,
    kafka_first_offset Int64,
    kafka_last_offset  Int64,
    month              UInt32 COMMENT 'toYYYYMM(day) of the batch''s rows this receipt covers',
    stored_at          DateTime DEFAULT now()
)
ENGINE = {{mergeTree "MergeTree"}}
PARTITION BY month
ORDER BY (kafka_topic, kafka_partition, kafka_first_offset)
SETTINGS {{dedupWindow 10000}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.DB}}.activity_receipts_mv {{onCluster}}
TO {{.DB}}.activity_receipts
AS SELECT DISTINCT kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset, toYYYYMM(day) AS month
FROM {{.DB}}.activity_daily;
