-- Vital signs bound to the device that sent them: which device principal reports for which
-- subject (assigned by a tenant administrator), and the sending device stored with every sample.
-- A sample's `source` is the sensor's name as its device gives it; it is scoped to `device_id`,
-- so two devices naming their sensors alike are two sources (the key includes the device).
-- Samples stored before this migration keep `device_id = ''`.

CREATE TABLE device_assignments (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    device_id      TEXT NOT NULL REFERENCES principals(id),
    subject_id     TEXT NOT NULL,
    assigned_at_ms INTEGER NOT NULL,
    assigned_by    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, device_id, subject_id)
);
CREATE INDEX device_assignments_by_subject ON device_assignments(tenant_id, subject_id);

-- SQLite cannot change a primary key in place: rebuild the table.
CREATE TABLE vital_samples_by_device (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    subject_id     TEXT NOT NULL,
    parameter      TEXT NOT NULL,
    source         TEXT NOT NULL,
    measured_at_ms INTEGER NOT NULL,
    value          REAL NOT NULL,
    value2         REAL,
    received_at_ms INTEGER NOT NULL,
    -- Last and with a default, as PostgreSQL's ADD COLUMN leaves it (the schemas must match).
    device_id      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, subject_id, parameter, device_id, source, measured_at_ms)
);
INSERT INTO vital_samples_by_device
    (tenant_id, subject_id, parameter, source, measured_at_ms, value, value2, received_at_ms, device_id)
    SELECT tenant_id, subject_id, parameter, source, measured_at_ms, value, value2, received_at_ms, ''
    FROM vital_samples;
DROP TABLE vital_samples;
ALTER TABLE vital_samples_by_device RENAME TO vital_samples;
