-- Outbound webhooks: per tenant, alert events are POSTed (signed with the webhook's secret) to
-- the tenant's receivers. Deliveries are an outbox: `append_alert_event` inserts one row per
-- enabled webhook in the same transaction as the event, so no event is lost and none is sent
-- without being stored. A delivery is claimed with a lease (`locked_by`, `locked_at_ms`) like an
-- analysis job; after its last attempt it is `dead` (the dead-letter list) until replayed.
--
-- The secret signs every request, so it is stored as it was shown (it cannot be hashed); no read
-- API returns it.
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    url             TEXT NOT NULL,
    secret          TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    disabled_at_ms  BIGINT
);
CREATE INDEX webhooks_by_tenant ON webhooks(tenant_id);

CREATE TABLE webhook_deliveries (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    webhook_id          TEXT NOT NULL REFERENCES webhooks(id),
    event_id            BIGINT NOT NULL,
    alert_id            TEXT NOT NULL,
    subject_id          TEXT NOT NULL,
    payload             TEXT NOT NULL,
    state               TEXT NOT NULL,
    attempts            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms  BIGINT NOT NULL,
    locked_by           TEXT,
    locked_at_ms        BIGINT,
    last_status         BIGINT,
    last_error          TEXT,
    created_at_ms       BIGINT NOT NULL,
    finished_at_ms      BIGINT
);
CREATE INDEX webhook_deliveries_ready ON webhook_deliveries(state, next_attempt_at_ms);
CREATE INDEX webhook_deliveries_by_tenant ON webhook_deliveries(tenant_id, state, finished_at_ms);
