-- Schema version 2: rows keyed by an integration no longer reference `integrations`.
--
-- The storage interface (src/storage/mod.rs) lets settings, user mappings, links, moves, status
-- categories and watermarks be written for an integration id before (or without) its record, as
-- the sled backend always did (the conformance suite, tests/server/storage.rs, checks it).
-- delete_integration removes the settings, mappings, links, moves and status categories of an
-- integration explicitly, in one transaction; watermarks stay with their groups, as in sled.
ALTER TABLE org_settings      DROP CONSTRAINT org_settings_integration_id_fkey;
ALTER TABLE user_mappings     DROP CONSTRAINT user_mappings_integration_id_fkey;
ALTER TABLE group_watermarks  DROP CONSTRAINT group_watermarks_integration_id_fkey;
ALTER TABLE links             DROP CONSTRAINT links_integration_id_fkey;
ALTER TABLE moves             DROP CONSTRAINT moves_integration_id_fkey;
ALTER TABLE status_categories DROP CONSTRAINT status_categories_integration_id_fkey;
