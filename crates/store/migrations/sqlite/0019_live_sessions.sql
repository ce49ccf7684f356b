-- Live auscultation across servers: one row per live session (an upload marked live while its
-- device streams), written by the server the device streams to (its holder) when the session
-- opens and deleted when it ends. A holder that died without ending its sessions leaves rows
-- behind: they are not listed once its heartbeat in `servers` is stale, and are deleted when it
-- starts again or when its registry entry is gone.
CREATE TABLE live_sessions (
    recording_id        TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    subject_id          TEXT NOT NULL,
    site                TEXT NOT NULL,
    server_id           TEXT NOT NULL,
    started_at_ms       INTEGER NOT NULL,
    pcg_rate_hz         INTEGER NOT NULL,
    takes_instructions  INTEGER NOT NULL,
    opened_at_ms        INTEGER NOT NULL
);
CREATE INDEX live_sessions_tenant ON live_sessions (tenant_id, started_at_ms);
CREATE INDEX live_sessions_server ON live_sessions (server_id);
