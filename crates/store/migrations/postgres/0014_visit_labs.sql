-- Point-of-care blood results of a check-up visit (HbA1c, glucose, total and HDL cholesterol,
-- triglycerides): one row per visit and analyte, so entering an analyte again replaces its row
-- (the change is audited) and never adds a second one. `analyte` is the stable name of
-- auscult_triage::Analyte, `unit` its unit as entered ("%", "mg/dL"), `fasting` 1 when the sample
-- was taken fasting. Times are Unix milliseconds. Every row carries its tenant.
CREATE TABLE program_visit_labs (
    visit_id        TEXT NOT NULL REFERENCES program_visits(id),
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    analyte         TEXT NOT NULL,
    value           DOUBLE PRECISION NOT NULL,
    unit            TEXT NOT NULL,
    fasting         BIGINT NOT NULL,
    measured_at_ms  BIGINT NOT NULL,
    entered_by      TEXT NOT NULL,
    entered_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (visit_id, analyte)
);
CREATE INDEX program_visit_labs_by_tenant ON program_visit_labs(tenant_id, visit_id);
