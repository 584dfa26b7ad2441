-- Market signals that raised no task because no account matched them
-- (docs/signals.md). Signals are stored like every interaction, in
-- interactions (type 'account.signal'); a signal the market_signal detector
-- matched is named by a market_signal alert, or its account and kind are
-- in one (a later signal inside the cooldown). What is left never found an
-- account: the detector parks it (anomaly.signals.hold) and counts it in
-- salespulse_anomaly_signals_total{outcome="unmatched"}, and this view
-- keeps it queryable. A signal matched later, when an account with its
-- domain or id appeared, leaves the view then.
CREATE VIEW IF NOT EXISTS {{.DB}}.unmatched_signals {{onCluster}} AS
SELECT
    occurred_at,
    event_id,
    source,
    account_id,
    attributes['signal_kind']     AS kind,
    attributes['signal_domain']   AS domain,
    attributes['signal_company']  AS company,
    attributes['signal_url']      AS url,
    ingested_at
FROM {{.DB}}.interactions FINAL
WHERE type = 'account.signal'
  AND NOT (domain != '' AND (domain, kind) IN (
        SELECT `values`['signal_domain'], `values`['kind'] FROM {{.DB}}.alerts WHERE rule = 'market_signal'))
  AND NOT (account_id != '' AND (account_id, kind) IN (
        SELECT `values`['account_id'], `values`['kind'] FROM {{.DB}}.alerts WHERE rule = 'market_signal'));
