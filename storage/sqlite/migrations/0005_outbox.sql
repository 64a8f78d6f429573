-- 0005_outbox: every email leaves through a durable outbox (issue 10 item 5). A request only
-- inserts a row; a worker on any instance claims due rows (claimed_by / claimed_until, a
-- per-row lease, so no message is sent twice and a crashed claimer's rows come back when the
-- claim lapses), sends them and retries failures with exponential backoff. kind is "message"
-- (a rendered email) or a task that a handler turns into mail (a password-reset request).
-- payload is sealed under the master key and dropped once the row is finished: it may carry
-- a live link.
--
-- The PostgreSQL set repeats this file with BYTEA for BLOB.
CREATE TABLE outbox (
    id              TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    kind            TEXT    NOT NULL CHECK (kind <> ''),
    payload         BLOB    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    claimed_by      TEXT,
    claimed_until   BIGINT,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT  NOT NULL,
    done_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_done_at ON outbox (done_at);
