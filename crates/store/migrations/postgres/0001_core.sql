-- Core schema: tenants, principals and their hashed tokens, recordings (cases) and their blob parts,
-- the analysis job queue, reviews and the audit trail. Times are Unix milliseconds; booleans are
-- 0/1 integers so the same queries run on SQLite and PostgreSQL.

CREATE TABLE tenants (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE principals (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT REFERENCES tenants(id),
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX principals_by_tenant ON principals(tenant_id);

CREATE TABLE tokens (
    id             TEXT PRIMARY KEY,
    principal_id   TEXT NOT NULL REFERENCES principals(id),
    secret_sha256  BYTEA NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    revoked_at_ms  BIGINT
);
CREATE INDEX tokens_by_principal ON tokens(principal_id);

CREATE TABLE recordings (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    device_id         TEXT NOT NULL REFERENCES principals(id),
    upload_id         TEXT NOT NULL,
    device_serial     TEXT NOT NULL,
    subject_id        TEXT NOT NULL,
    site              TEXT NOT NULL,
    position          TEXT NOT NULL,
    started_at_ms     BIGINT NOT NULL,
    pcg_rate_hz       BIGINT NOT NULL,
    pcg_format        TEXT NOT NULL,
    ecg_mode          TEXT NOT NULL,
    ecg_rate_hz       BIGINT NOT NULL,
    ecg_format        TEXT NOT NULL,
    payload_sha256    BYTEA,
    pcg_committed     BIGINT NOT NULL DEFAULT 0,
    ecg_committed     BIGINT NOT NULL DEFAULT 0,
    rpeaks_committed  BIGINT NOT NULL DEFAULT 0,
    state             TEXT NOT NULL,
    received_at_ms    BIGINT NOT NULL,
    completed_at_ms   BIGINT,
    analysis_state    TEXT NOT NULL,
    analysis_error    TEXT,
    analysis_json     TEXT,
    analysed_at_ms    BIGINT,
    flagged           BIGINT NOT NULL DEFAULT 0,
    murmur_status     TEXT,
    heart_rate_bpm    DOUBLE PRECISION,
    duration_s        DOUBLE PRECISION NOT NULL DEFAULT 0,
    priority          BIGINT NOT NULL DEFAULT 0,
    review_count      BIGINT NOT NULL DEFAULT 0,
    last_verdict      TEXT,
    UNIQUE (device_id, upload_id)
);
CREATE INDEX recordings_worklist ON recordings(tenant_id, state, priority DESC, started_at_ms DESC, id);

CREATE TABLE recording_parts (
    recording_id  TEXT NOT NULL REFERENCES recordings(id),
    stream        TEXT NOT NULL,
    start_index   BIGINT NOT NULL,
    item_count    BIGINT NOT NULL,
    object_key    TEXT NOT NULL,
    PRIMARY KEY (recording_id, stream, start_index)
);

CREATE TABLE analysis_jobs (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    recording_id   TEXT NOT NULL UNIQUE REFERENCES recordings(id),
    state          TEXT NOT NULL,
    attempts       BIGINT NOT NULL DEFAULT 0,
    run_after_ms   BIGINT NOT NULL,
    locked_by      TEXT,
    locked_at_ms   BIGINT,
    last_error     TEXT,
    created_at_ms  BIGINT NOT NULL
);
CREATE INDEX analysis_jobs_ready ON analysis_jobs(state, run_after_ms);

CREATE TABLE reviews (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenants(id),
    recording_id         TEXT NOT NULL REFERENCES recordings(id),
    reviewer_id          TEXT NOT NULL REFERENCES principals(id),
    verdict              TEXT NOT NULL,
    findings             TEXT NOT NULL,
    refer                BIGINT NOT NULL,
    request_rerecording  BIGINT NOT NULL,
    created_at_ms        BIGINT NOT NULL
);
CREATE INDEX reviews_by_recording ON reviews(tenant_id, recording_id, created_at_ms);

CREATE TABLE audit_events (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT,
    at_ms         BIGINT NOT NULL,
    actor_id      TEXT NOT NULL,
    actor_role    TEXT NOT NULL,
    action        TEXT NOT NULL,
    recording_id  TEXT,
    subject_id    TEXT
);
CREATE INDEX audit_by_tenant ON audit_events(tenant_id, at_ms DESC, id DESC);
