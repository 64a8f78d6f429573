-- 0015_phones: verified phone numbers and pending verifications (issue 15). A verified number
-- belongs to one account (it can name the account for an SMS password reset); a pending one
-- holds the keyed hash of the code sent to it, never the code.
--
-- The PostgreSQL set repeats this file with the same version and tables.
CREATE TABLE phones (
    user_id     TEXT   NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    e164        TEXT   NOT NULL UNIQUE CHECK (e164 <> ''),
    verified_at BIGINT NOT NULL
);

CREATE TABLE phone_verifications (
    user_id      TEXT   NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    e164         TEXT   NOT NULL CHECK (e164 <> ''),
    code_hash    TEXT   NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    sends        BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    last_sent_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
