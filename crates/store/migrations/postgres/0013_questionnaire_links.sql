-- A resident's link to one visit's questionnaire (web 問診): opened on a phone without an account.
-- Only the SHA-256 of the link's token (hex) is stored; the token itself is in the URL given to
-- the resident. A link works until expires_at_ms and until it is used (the response submitted)
-- or revoked (a new link for the same visit). Answers typed so far are kept as a draft
-- (an encoded auscult.v1.QuestionnaireResponse) so the resident can resume.
CREATE TABLE questionnaire_links (
    id                      TEXT PRIMARY KEY,
    tenant_id               TEXT NOT NULL REFERENCES tenants(id),
    visit_id                TEXT NOT NULL REFERENCES program_visits(id),
    token_sha256            TEXT NOT NULL UNIQUE,
    questionnaire_version   BIGINT NOT NULL,
    created_by              TEXT NOT NULL,
    created_at_ms           BIGINT NOT NULL,
    expires_at_ms           BIGINT NOT NULL,
    used_at_ms              BIGINT,
    revoked_at_ms           BIGINT,
    draft                   BYTEA,
    draft_at_ms             BIGINT
);
CREATE INDEX questionnaire_links_by_visit ON questionnaire_links(tenant_id, visit_id);
