-- Vital signs: raw samples, per-minute rollups for trend queries, and the alert event log that
-- nurse stations resume from. Times are Unix milliseconds. Categorical readings (ACVPU, oxygen)
-- are stored as small integer codes in `value`; blood pressure keeps the diastolic in `value2`.

CREATE TABLE vital_samples (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    subject_id     TEXT NOT NULL,
    parameter      TEXT NOT NULL,
    source         TEXT NOT NULL,
    measured_at_ms BIGINT NOT NULL,
    value          DOUBLE PRECISION NOT NULL,
    value2         DOUBLE PRECISION,
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, subject_id, parameter, source, measured_at_ms)
);

CREATE TABLE vital_minutes (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    subject_id TEXT NOT NULL,
    parameter  TEXT NOT NULL,
    minute_ms  BIGINT NOT NULL,
    n          BIGINT NOT NULL,
    min_value  DOUBLE PRECISION NOT NULL,
    max_value  DOUBLE PRECISION NOT NULL,
    sum_value  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, subject_id, parameter, minute_ms)
);

CREATE TABLE alert_events (
    event_id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    subject_id TEXT NOT NULL,
    alert_id   TEXT NOT NULL,
    at_ms      BIGINT NOT NULL,
    change     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    severity   TEXT NOT NULL,
    state      TEXT NOT NULL,
    conditions TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX alert_events_by_tenant ON alert_events(tenant_id, event_id);
