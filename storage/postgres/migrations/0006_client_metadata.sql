-- 0006_client_metadata: the consent page shows who is asking (issue 11 item 12): the
-- client's logo, its home page (whose domain is shown as text), its privacy policy and its
-- terms of service. Each is an https URL or empty; `myaccount client create|update` checks
-- them (--logo-uri, --client-uri, --policy-uri, --tos-uri), as RFC 7591 names them.
--
-- PostgreSQL edition of storage/sqlite/migrations/0006_client_metadata.sql.
ALTER TABLE clients ADD COLUMN logo_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN client_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN policy_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tos_uri TEXT NOT NULL DEFAULT '';
