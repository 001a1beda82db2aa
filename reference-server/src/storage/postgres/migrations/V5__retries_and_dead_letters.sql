-- Schema version 4: per-delivery retry budget and dead letters.
--
-- A delivery that cannot be applied yet (Jira unreachable) keeps its retry state on its inbox
-- row: attempts, last_error and not_before (from version 1) and, new here, first_failed_ms
-- (unix ms of the first failed attempt, for --retry-max-age). Claims leave out rows whose
-- not_before is in the future, so later deliveries of the same integration go on meanwhile.
-- A delivery whose budget is used up moves to dead_letters (in the apply transaction that
-- deletes its inbox row), with its body, until an operator retries it (a new inbox row) or
-- deletes it through the admin API. Read by: the admin API (newest first per integration: a
-- backward scan of the primary key; one by integration and seq).
ALTER TABLE inbox ADD COLUMN first_failed_ms bigint;

CREATE TABLE dead_letters (
    integration_id  bigint  NOT NULL,
    seq             bigint  NOT NULL,
    received_ms     bigint  NOT NULL,
    event           text,
    issue_key       text,
    attempts        integer NOT NULL,
    first_failed_ms bigint  NOT NULL,
    dead_ms         bigint  NOT NULL,
    last_error      text    NOT NULL,
    body            bytea   NOT NULL,
    PRIMARY KEY (integration_id, seq)
);
