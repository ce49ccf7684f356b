-- Tokens may expire: a token whose expires_at_ms (Unix ms) has passed no longer authenticates.
-- NULL means the token does not expire (devices, unless given a lifetime).
ALTER TABLE tokens ADD COLUMN expires_at_ms BIGINT;
