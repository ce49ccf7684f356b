-- Municipal check-up programmes: programmes, their sites, versioned questionnaires, enrolled
-- residents with their consent, check-up visits and the recordings linked to a visit's
-- auscultation sites. Times are Unix milliseconds. Questionnaire definitions, responses and spot
-- vitals are stored as the server's encoded messages (opaque to the store). Every row carries its
-- tenant so every query can name it.

CREATE TABLE programs (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    name           TEXT NOT NULL,
    description    TEXT NOT NULL,
    created_by     TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE program_sites (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    program_id     TEXT NOT NULL REFERENCES programs(id),
    name           TEXT NOT NULL,
    address        TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL
);
CREATE INDEX program_sites_by_program ON program_sites(tenant_id, program_id);

CREATE TABLE program_questionnaires (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    program_id     TEXT NOT NULL REFERENCES programs(id),
    version        INTEGER NOT NULL,
    definition     BLOB NOT NULL,
    created_by     TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (program_id, version)
);

CREATE TABLE program_residents (
    id                       TEXT PRIMARY KEY,
    tenant_id                TEXT NOT NULL REFERENCES tenants(id),
    program_id               TEXT NOT NULL REFERENCES programs(id),
    subject_id               TEXT NOT NULL,
    family_name              TEXT NOT NULL,
    given_name               TEXT NOT NULL,
    gender                   TEXT NOT NULL,
    birth_date               TEXT NOT NULL,
    resident_number          TEXT NOT NULL,
    consent_recorded_by      TEXT NOT NULL,
    consent_given_at_ms      INTEGER NOT NULL,
    consent_version          TEXT NOT NULL,
    consent_scope            TEXT NOT NULL,
    consent_withdrawn_at_ms  INTEGER,
    enrolled_by              TEXT NOT NULL,
    enrolled_at_ms           INTEGER NOT NULL,
    UNIQUE (program_id, subject_id)
);
CREATE INDEX program_residents_by_program ON program_residents(tenant_id, program_id);

CREATE TABLE program_visits (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    program_id          TEXT NOT NULL REFERENCES programs(id),
    resident_id         TEXT NOT NULL REFERENCES program_residents(id),
    site_id             TEXT NOT NULL REFERENCES program_sites(id),
    visited_at_ms       INTEGER NOT NULL,
    created_by          TEXT NOT NULL,
    created_at_ms       INTEGER NOT NULL,
    response_version    INTEGER,
    response            BLOB,
    vitals              BLOB,
    confirmed_outcome   TEXT,
    confirmed_by        TEXT,
    confirmed_at_ms     INTEGER,
    confirmation_note   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX program_visits_by_program ON program_visits(tenant_id, program_id, resident_id);

CREATE TABLE program_visit_recordings (
    visit_id           TEXT NOT NULL REFERENCES program_visits(id),
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    auscultation_site  TEXT NOT NULL,
    recording_id       TEXT NOT NULL UNIQUE REFERENCES recordings(id),
    linked_by          TEXT NOT NULL,
    linked_at_ms       INTEGER NOT NULL,
    PRIMARY KEY (visit_id, auscultation_site)
);
