-- 0019_pushed_requests: pushed authorization requests (RFC 9126, issue 16). A client posts its
-- authorization request to /par and gets a request_uri to send the browser with; the row
-- holds the request under the SHA-256 of that URI's random part until /authorize uses it
-- (once) or it expires (a minute).
--
-- The other dialect's set repeats this file with the same version and table.
CREATE TABLE pushed_requests (
    hash       TEXT   NOT NULL PRIMARY KEY CHECK (hash <> ''),
    client_id  TEXT   NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    params     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pushed_requests_expires_at ON pushed_requests (expires_at);
