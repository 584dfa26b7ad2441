-- The append-only fact tables carry their batch's Kafka origin on every
-- row, as interactions and late_events do (001): the ClickHouse sink
-- inserts their rows of many batches together (one part per table and
-- partition, docs/fault-tolerance.md rule 4), and a replayed batch asks
-- which of its (origin, partition) are stored before it inserts them
-- again. Rows stored before this migration have '' and 0: they were
-- inserted one batch per insert, under the batch's own dedup token.
ALTER TABLE {{.DB}}.lead_response_facts {{onCluster}}
    ADD COLUMN IF NOT EXISTS kafka_topic        LowCardinality(String) COMMENT 'topic of the batch this row was derived from',
    ADD COLUMN IF NOT EXISTS kafka_partition    Int32,
    ADD COLUMN IF NOT EXISTS kafka_first_offset Int64 COMMENT 'first offset of that batch',
    ADD COLUMN IF NOT EXISTS kafka_last_offset  Int64 COMMENT 'last offset of that batch';
ALTER TABLE {{.DB}}.approval_facts {{onCluster}}
    ADD COLUMN IF NOT EXISTS kafka_topic        LowCardinality(String) COMMENT 'topic of the batch this row was derived from',
    ADD COLUMN IF NOT EXISTS kafka_partition    Int32,
    ADD COLUMN IF NOT EXISTS kafka_first_offset Int64 COMMENT 'first offset of that batch',
    ADD COLUMN IF NOT EXISTS kafka_last_offset  Int64 COMMENT 'last offset of that batch';
ALTER TABLE {{.DB}}.deal_facts {{onCluster}}
    ADD COLUMN IF NOT EXISTS kafka_topic        LowCardinality(String) COMMENT 'topic of the batch this row was derived from',
    ADD COLUMN IF NOT EXISTS kafka_partition    Int32,
    ADD COLUMN IF NOT EXISTS kafka_first_offset Int64 COMMENT 'first offset of that batch',
    ADD COLUMN IF NOT EXISTS kafka_last_offset  Int64 COMMENT 'last offset of that batch';
ALTER TABLE {{.DB}}.forecast_facts {{onCluster}}
    ADD COLUMN IF NOT EXISTS kafka_topic        LowCardinality(String) COMMENT 'topic of the batch this row was derived from',
    ADD COLUMN IF NOT EXISTS kafka_partition    Int32,
    ADD COLUMN IF NOT EXISTS kafka_first_offset Int64 COMMENT 'first offset of that batch',
    ADD COLUMN IF NOT EXISTS kafka_last_offset  Int64 COMMENT 'last offset of that batch';
ALTER TABLE {{.DB}}.deal_features {{onCluster}}
    ADD COLUMN IF NOT EXISTS kafka_topic        LowCardinality(String) COMMENT 'topic of the batch this row was derived from',
    ADD COLUMN IF NOT EXISTS kafka_partition    Int32,
    ADD COLUMN IF NOT EXISTS kafka_first_offset Int64 COMMENT 'first offset of that batch',
    ADD COLUMN IF NOT EXISTS kafka_last_offset  Int64 COMMENT 'last offset of that batch';
ALTER TABLE {{.DB}}.deal_scores {{onCluster}}
    ADD COLUMN IF NOT EXISTS kafka_topic        LowCardinality(String) COMMENT 'topic of the batch this row was derived from',
    ADD COLUMN IF NOT EXISTS kafka_partition    Int32,
    ADD COLUMN IF NOT EXISTS kafka_first_offset Int64 COMMENT 'first offset of that batch',
    ADD COLUMN IF NOT EXISTS kafka_last_offset  Int64 COMMENT 'last offset of that batch';
