-- Vital signs bound to the device that sent them: which device principal reports for which
-- subject (assigned by a tenant administrator), and the sending device stored with every sample.
-- A sample's `source` is the sensor's name as its device gives it; it is scoped to `device_id`,
-- so two devices naming their sensors alike are two sources (the key includes the device).
-- Samples stored before this migration keep `device_id = ''`.

CREATE TABLE device_assignments (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    device_id      TEXT NOT NULL REFERENCES principals(id),
    subject_id     TEXT NOT NULL,
    assigned_at_ms BIGINT NOT NULL,
    assigned_by    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, device_id, subject_id)
);
CREATE INDEX device_assignments_by_subject ON device_assignments(tenant_id, subject_id);

ALTER TABLE vital_samples ADD COLUMN device_id TEXT NOT NULL DEFAULT '';
ALTER TABLE vital_samples DROP CONSTRAINT vital_samples_pkey;
ALTER TABLE vital_samples
    ADD PRIMARY KEY (tenant_id, subject_id, parameter, device_id, source, measured_at_ms);
