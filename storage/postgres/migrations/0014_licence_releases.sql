-- 0014_licence_releases: a person's "Remove from this device" is remembered (issue 14). Without
-- it the installation would take the freed seat back at its next token refresh, before the
-- device the seat was freed for. Automatic binding at token issuance skips a released
-- installation; an explicit activation (the product's POST /api/v1/licences/{id}/activations)
-- binds it again and forgets the release.
--
-- PostgreSQL edition of storage/sqlite/migrations/0014_licence_releases.sql.
CREATE TABLE licence_releases (
    licence_id  TEXT   NOT NULL REFERENCES licences (id) ON DELETE CASCADE,
    device_id   TEXT   NOT NULL CHECK (device_id <> ''),
    released_at BIGINT NOT NULL,
    PRIMARY KEY (licence_id, device_id)
);
