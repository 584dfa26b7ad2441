-- One pseudonym per identity of the contact, beside contact_key: the
-- e-mail (trimmed, lower-cased), the phone and the mobile (E.164, or their
-- digits when they could not be read as a full number), each a keyed HMAC
-- like contact_key. A call to the lead's phone and a mail to its address
-- can each be joined to the lead, and an erasure finds a subject by any of
-- them. Empty where the event carried no such identity, and in rows written
-- before this migration.
ALTER TABLE {{.DB}}.interactions {{onCluster}}
    ADD COLUMN IF NOT EXISTS email_key String COMMENT 'keyed pseudonym of the contact''s lower-cased e-mail; never the raw address' AFTER contact_key,
    ADD COLUMN IF NOT EXISTS phone_key String COMMENT 'keyed pseudonym of the contact''s phone in E.164; never the raw number' AFTER email_key,
    ADD COLUMN IF NOT EXISTS mobile_key String COMMENT 'keyed pseudonym of the contact''s mobile in E.164; never the raw number' AFTER phone_key;
ALTER TABLE {{.DB}}.late_events {{onCluster}}
    ADD COLUMN IF NOT EXISTS email_key String COMMENT 'keyed pseudonym of the contact''s lower-cased e-mail; never the raw address' AFTER contact_key,
    ADD COLUMN IF NOT EXISTS phone_key String COMMENT 'keyed pseudonym of the contact''s phone in E.164; never the raw number' AFTER email_key,
    ADD COLUMN IF NOT EXISTS mobile_key String COMMENT 'keyed pseudonym of the contact''s mobile in E.164; never the raw number' AFTER phone_key;
