-- Families' access to one resident (the watch from afar). A nurse records the resident's consent
-- and invites a relative: one row per invitation, which becomes the grant once accepted. Only the
-- SHA-256 of the invitation's token (hex) is stored; the token itself is in the link given to the
-- family. An invitation works until expires_at_ms, once (accepted_at_ms), and not after it is
-- revoked; an accepted one lets principal_id (role `family`) see subject_id until revoked.
-- share_recordings is 0/1: whether the resident consented to the family hearing recordings.
CREATE TABLE family_access (
    id                      TEXT PRIMARY KEY,
    tenant_id               TEXT NOT NULL REFERENCES tenants(id),
    subject_id              TEXT NOT NULL,
    relative_name           TEXT NOT NULL,
    relationship            TEXT NOT NULL,
    consent_recorded_by     TEXT NOT NULL,
    consent_version         TEXT NOT NULL,
    share_recordings        BIGINT NOT NULL,
    token_sha256            TEXT NOT NULL UNIQUE,
    created_by              TEXT NOT NULL,
    created_at_ms           BIGINT NOT NULL,
    expires_at_ms           BIGINT NOT NULL,
    accepted_at_ms          BIGINT,
    principal_id            TEXT REFERENCES principals(id),
    revoked_at_ms           BIGINT,
    revoked_by              TEXT
);
CREATE INDEX family_access_by_subject ON family_access(tenant_id, subject_id);
CREATE INDEX family_access_by_principal ON family_access(principal_id);
-- A family's page reads one resident's recent alert events (newest first).
CREATE INDEX alert_events_by_subject ON alert_events(tenant_id, subject_id, event_id);
