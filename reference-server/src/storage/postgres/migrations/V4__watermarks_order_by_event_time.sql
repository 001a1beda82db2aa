-- Watermarks order by event time first (issue 20, item 29).
--
-- assignee_sync::OrderingKey used to order by the changelog id first; on a Jira Data Center
-- cluster that is wrong, because every node draws changelog ids from its own bank of the shared
-- sequence (a newer change can carry a smaller id). It now orders by (timestamp_ms,
-- changelog_id): the delivery's event time, the changelog id only breaking ties of one
-- millisecond (NULL first).
--
-- The stored rows need no rewrite: every watermark already keeps both parts (changelog_id,
-- timestamp_ms), and the worker compares them in Rust (storage::sled::sync::apply_mutation, on
-- the row locked FOR UPDATE). What encoded the old order were the generated columns
-- rank_has_changelog and rank_value of V1; no statement reads them, and an SQL query ordering
-- by them would order the old, wrong way, so they go. Dropping a column does not rewrite the
-- table.

ALTER TABLE group_watermarks DROP COLUMN rank_has_changelog;
ALTER TABLE group_watermarks DROP COLUMN rank_value;

COMMENT ON TABLE group_watermarks IS
    'Newest delivery applied to a group, per integration and sync kind. Order: (timestamp_ms, changelog_id NULLS FIRST); see assignee_sync::OrderingKey.';
