-- People sign in to the web console with a username and a password (argon2id, PHC string). A web
-- user acts as one principal: its role and tenant are the principal's, as for a bearer token.
-- Failed sign-ins are counted; enough of them lock the account until locked_until_ms.
CREATE TABLE web_users (
    id                      TEXT PRIMARY KEY,
    tenant_id               TEXT NOT NULL REFERENCES tenants(id),
    principal_id            TEXT NOT NULL UNIQUE REFERENCES principals(id),
    username                TEXT NOT NULL UNIQUE,
    password_hash           TEXT NOT NULL,
    failed_attempts         INTEGER NOT NULL DEFAULT 0,
    locked_until_ms         INTEGER,
    created_at_ms           INTEGER NOT NULL,
    password_changed_at_ms  INTEGER NOT NULL
);
CREATE INDEX web_users_by_tenant ON web_users(tenant_id);

-- A signed-in browser. Only the SHA-256 of the session id (hex) is stored; the id itself lives
-- in the browser's cookie. A session ends at expires_at_ms or when revoked (sign-out, password
-- change).
CREATE TABLE web_sessions (
    id_sha256       TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES web_users(id),
    csrf_token      TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    revoked_at_ms   INTEGER
);
CREATE INDEX web_sessions_by_user ON web_sessions(user_id);
