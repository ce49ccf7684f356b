-- Several servers on one database: each running server registers itself here and heartbeats its
-- row; a graceful shutdown deletes it. A server with local blobs refuses to start while another
-- server's heartbeat is fresh (it alone would hold the blobs of the uploads it receives).
CREATE TABLE servers (
    id               TEXT PRIMARY KEY,
    started_at_ms    BIGINT NOT NULL,
    heartbeat_at_ms  BIGINT NOT NULL,
    blob_backend     TEXT NOT NULL,
    address          TEXT NOT NULL
);
