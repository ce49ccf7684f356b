-- Vital signs: raw samples, per-minute rollups for trend queries, and the alert event log that
-- nurse stations resume from. Times are Unix milliseconds. Categorical readings (ACVPU, oxygen)
-- are stored as small integer codes in `value`; blood pressure keeps the diastolic in `value2`.

CREATE TABLE vital_samples (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    subject_id     TEXT NOT NULL,
    parameter      TEXT NOT NULL,
    source         TEXT NOT NULL,
    measured_at_ms INTEGER NOT NULL,
    value          REAL NOT NULL,
    value2         REAL,
    received_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, subject_id, parameter, source, measured_at_ms)
);

CREATE TABLE vital_minutes (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    subject_id TEXT NOT NULL,
    parameter  TEXT NOT NULL,
    minute_ms  INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    min_value  REAL NOT NULL,
    max_value  REAL NOT NULL,
    sum_value  REAL NOT NULL,
    PRIMARY KEY (tenant_id, subject_id, parameter, minute_ms)
);

CREATE TABLE alert_events (
    event_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    subject_id TEXT NOT NULL,
    alert_id   TEXT NOT NULL,
    at_ms      INTEGER NOT NULL,
    change     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    severity   TEXT NOT NULL,
    state      TEXT NOT NULL,
    conditions TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX alert_events_by_tenant ON alert_events(tenant_id, event_id);
