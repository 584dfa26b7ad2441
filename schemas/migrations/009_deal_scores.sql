-- Explainable deal scores (docs/scores.md). The anomaly stage's
-- deal_at_risk detector computes each open opportunity's engagement
-- features in event time and writes them here, so that training
-- (`salespulse score train`) and evaluation read exactly what the stream
-- computed: the rows with event 'won' or 'lost' are the closed deals'
-- features as of their close. With a model loaded it also writes the
-- opportunity's win probability and its top reasons.
--
-- Rows are written once per batch with the batch's deduplication token,
-- so a replay adds nothing. An opportunity is an account's open deal:
-- opportunity_id is the account id, '/', and the id of the event that
-- opened it.

CREATE TABLE IF NOT EXISTS {{.DB}}.deal_features {{onCluster}}
(
    at                 DateTime64(3, 'UTC') COMMENT 'event time the features are as of',
    opportunity_id     String,
    account_id         String,
    rep_id             String,
    team_id            String,
    event              LowCardinality(String) COMMENT 'opened, moved, rescored, won, lost',
    event_id           String COMMENT 'the event; empty for a rescore',
    email_7d           Float64,
    phone_7d           Float64,
    social_7d          Float64,
    meetings_7d        Float64,
    email_30d          Float64,
    phone_30d          Float64,
    social_30d         Float64,
    meetings_30d       Float64,
    first_response_h   Float64 COMMENT 'hours from opening to the first outbound touch (so far, when none yet)',
    meetings           Float64 COMMENT 'meetings held since opening',
    discount_pct       Float64 COMMENT 'of the last quote; 0 before any',
    stage_age_d        Float64,
    cycle_d            Float64,
    approvals          Float64,
    approvals_rejected Float64,
    stage              Float64 COMMENT '0 prospecting … 4 negotiation'
)
ENGINE = {{mergeTree "MergeTree"}}
PARTITION BY toYYYYMM(at)
ORDER BY (opportunity_id, at, event_id)
SETTINGS {{dedupWindow 10000}};

CREATE TABLE IF NOT EXISTS {{.DB}}.deal_scores {{onCluster}}
(
    at             DateTime64(3, 'UTC'),
    opportunity_id String,
    account_id     String,
    rep_id         String,
    team_id        String,
    event          LowCardinality(String),
    event_id       String,
    probability    Float64 COMMENT 'win probability',
    reasons        Array(String) COMMENT 'top contributing features, signed, in words',
    model_id       LowCardinality(String) COMMENT 'hash of the model file'
)
ENGINE = {{mergeTree "MergeTree"}}
PARTITION BY toYYYYMM(at)
ORDER BY (opportunity_id, at, event_id)
SETTINGS {{dedupWindow 10000}};

-- The latest score of every opportunity still open (no 'won'/'lost'
-- feature row after it).
CREATE VIEW IF NOT EXISTS {{.DB}}.deal_scores_open {{onCluster}}
AS SELECT
    opportunity_id,
    argMax(account_id, at)  AS account_id,
    argMax(rep_id, at)      AS rep_id,
    argMax(team_id, at)     AS team_id,
    max(at)                 AS scored_at,
    argMax(probability, at) AS probability,
    argMax(reasons, at)     AS reasons
FROM {{.DB}}.deal_scores
GROUP BY opportunity_id
HAVING argMax(event, at) NOT IN ('won', 'lost');
