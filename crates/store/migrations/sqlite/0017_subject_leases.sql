-- Vital-sign monitoring across servers: each resident (tenant, subject) is monitored by exactly
-- one server at a time, the holder of its lease. A server renews its leases while it runs; a
-- lease that is not renewed expires and another server takes the resident over, rebuilding the
-- monitor from the stored samples and alerts.
CREATE TABLE vital_subject_leases (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    subject_id     TEXT NOT NULL,
    server_id      TEXT NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, subject_id)
);
CREATE INDEX vital_subject_leases_server ON vital_subject_leases (server_id);
CREATE INDEX vital_subject_leases_expiry ON vital_subject_leases (expires_at_ms);

-- What a server that does not hold a resident's lease hands to the server that does: a batch it
-- stored (to be applied to the monitor, not stored again) or a nurse's action on an alert (applied
-- by the holder, whose answer comes back in `answer`, NULL until then). Written in the same transaction as the
-- batch's samples; deleted once handled.
CREATE TABLE vital_relay (
    relay_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    subject_id     TEXT NOT NULL,
    kind           TEXT NOT NULL,
    payload        BLOB NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    answer         BLOB
);
CREATE INDEX vital_relay_subject ON vital_relay (tenant_id, subject_id, relay_id);
