-- Alert state for nurse stations: every alert event now carries the whole alert (so Watch can
-- replay it exactly), and `vital_alerts` holds each alert's current state (for ListAlerts, the
-- lifecycle RPCs and rebuilding after a restart). Both are written in one transaction per event.

ALTER TABLE alert_events ADD COLUMN condition_active INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alert_events ADD COLUMN level INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alert_events ADD COLUMN raised_at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alert_events ADD COLUMN snoozed_until_ms INTEGER;
ALTER TABLE alert_events ADD COLUMN acted_by TEXT NOT NULL DEFAULT '';

CREATE TABLE vital_alerts (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    alert_id         TEXT NOT NULL,
    subject_id       TEXT NOT NULL,
    kind             TEXT NOT NULL,
    severity         TEXT NOT NULL,
    state            TEXT NOT NULL,
    conditions       TEXT NOT NULL,
    condition_active INTEGER NOT NULL,
    level            INTEGER NOT NULL,
    raised_at_ms     INTEGER NOT NULL,
    snoozed_until_ms INTEGER,
    acted_by         TEXT NOT NULL,
    detail           TEXT NOT NULL,
    last_event_id    INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, alert_id)
);
CREATE INDEX vital_alerts_by_subject ON vital_alerts(tenant_id, subject_id, raised_at_ms);
CREATE INDEX vital_alerts_by_state ON vital_alerts(state);
-- Subjects with recent data, for re-registering their sensors after a restart.
CREATE INDEX vital_minutes_by_minute ON vital_minutes(minute_ms);
