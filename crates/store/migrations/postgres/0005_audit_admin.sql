-- Administrative changes are audited with what they changed; audit events are append-only
-- (whatever role the application connects as, a trigger refuses UPDATE and DELETE).
ALTER TABLE audit_events ADD COLUMN target_id TEXT;

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
