-- 0013_licences: products, licences and their seats on devices (issue 14).
--
-- A product (antivirus) is one or more OAuth clients; a client belongs to at most one
-- product. A licence is issued in a batch for a product with a number of seats and a term in
-- days that starts when it is redeemed (0 = unlimited); only the SHA-256 of its activation
-- code is stored. user_id is NULL until someone redeems the code. The reminder columns record
-- the mails already queued (30 and 7 days before expiry, on expiry), each set once by the
-- UPDATE that claims it.
--
-- An activation is a seat of a licence held by one installation of the person: device_id is
-- the stable id the product sent at authorization (or the grant id when it sent none), and
-- grant_id the installation's current grant. A seat whose grant is revoked (the device was
-- signed out) is free: it is not counted. UNIQUE (licence_id, seat) is the last word on
-- seats: the store locks the licence row, counts and takes the lowest free seat number, so
-- two devices can never hold one seat.
--
-- device_id on auth_requests, device_codes and grants carries the installation id from the
-- authorization to the grant.
--
-- PostgreSQL edition of storage/sqlite/migrations/0013_licences.sql.
CREATE TABLE products (
    id         TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
    name       TEXT   NOT NULL CHECK (name <> ''),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE product_clients (
    client_id  TEXT NOT NULL PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE
);
CREATE INDEX product_clients_product_id ON product_clients (product_id);

CREATE TABLE licences (
    id                 TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    product_id         TEXT    NOT NULL REFERENCES products (id),
    code_hash          TEXT    NOT NULL UNIQUE CHECK (code_hash <> ''),
    batch              TEXT    NOT NULL DEFAULT '',
    seats              BIGINT  NOT NULL CHECK (seats >= 1),
    days               BIGINT  NOT NULL CHECK (days >= 0),
    user_id            TEXT    REFERENCES users (id) ON DELETE SET NULL,
    created_at         BIGINT  NOT NULL,
    redeemed_at        BIGINT,
    expires_at         BIGINT,
    revoked_at         BIGINT,
    reminded_30_at     BIGINT,
    reminded_7_at      BIGINT,
    expiry_notified_at BIGINT
);
CREATE INDEX licences_product_id ON licences (product_id);
CREATE INDEX licences_user_id ON licences (user_id);
CREATE INDEX licences_batch ON licences (batch);
CREATE INDEX licences_expires_at ON licences (expires_at);

CREATE TABLE licence_activations (
    licence_id  TEXT    NOT NULL REFERENCES licences (id) ON DELETE CASCADE,
    device_id   TEXT    NOT NULL CHECK (device_id <> ''),
    seat        BIGINT  NOT NULL CHECK (seat >= 1),
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    grant_id    TEXT    NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    device_name TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (licence_id, device_id),
    UNIQUE (licence_id, seat)
);
CREATE INDEX licence_activations_grant_id ON licence_activations (grant_id);
CREATE INDEX licence_activations_user_id ON licence_activations (user_id);

ALTER TABLE auth_requests ADD COLUMN device_id TEXT NOT NULL DEFAULT '';
ALTER TABLE device_codes ADD COLUMN device_id TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN device_id TEXT NOT NULL DEFAULT '';
