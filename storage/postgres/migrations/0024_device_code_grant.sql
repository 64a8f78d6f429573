-- 0024_device_code_grant: a device code records the grant its tokens were issued in, so that
-- a device whose token answer was lost (a dropped connection, a crash after the commit) can
-- poll again within the retry grace and get tokens in a new grant that replaces that one,
-- instead of being told the code was used and starting over. NULL on codes consumed by a
-- release before this one: those are never retried.
--
-- The other dialect's set repeats this file with the same version.
ALTER TABLE device_codes ADD COLUMN grant_id TEXT;
