-- Schema version 3: change counters that keep every replica's caches current.
--
-- Each replica caches what its webhook endpoint reads for every delivery (storage/postgres/
-- generations.rs, link_keys.rs): the integrations by webhook token (app.rs, TokenIndex) and,
-- per integration, the issue keys that have links or moves, so that a delivery for an unlinked
-- issue is answered without a query. Triggers bump a counter here in the transaction that
-- changes those tables, so a replica that reads a counter sees exactly the committed changes
-- it counts; every replica reads this (small) table four times a second and drops what
-- changed. A delete or reinstall through one replica is so honoured by all within about
-- 0.5 s.
--
-- Rows: ('integrations', 0) for the integrations table; ('links', <integration id>) for the
-- links and moves of one integration. The row lock a bump takes is held to the end of its
-- transaction; writes of links and moves of one integration queue behind each other, which
-- they did on the primary keys' index already for the same keys.
CREATE TABLE cache_generations (
    scope          text   NOT NULL CHECK (scope IN ('integrations', 'links')),
    integration_id bigint NOT NULL,
    generation     bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (scope, integration_id)
);

CREATE FUNCTION bump_integrations_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cache_generations AS g (scope, integration_id) VALUES ('integrations', 0)
    ON CONFLICT (scope, integration_id) DO UPDATE SET generation = g.generation + 1;
    RETURN NULL;
END
$$;

-- `changed` is the statement's transition table (the rows inserted, updated or deleted).
CREATE FUNCTION bump_links_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cache_generations AS g (scope, integration_id)
    SELECT DISTINCT 'links', integration_id FROM changed
    ORDER BY 2
    ON CONFLICT (scope, integration_id) DO UPDATE SET generation = g.generation + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER integrations_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON integrations
    FOR EACH STATEMENT EXECUTE FUNCTION bump_integrations_generation();

-- A trigger with a transition table handles one event: three per table.
CREATE TRIGGER links_inserted AFTER INSERT ON links REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_links_generation();
CREATE TRIGGER links_updated AFTER UPDATE ON links REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_links_generation();
CREATE TRIGGER links_deleted AFTER DELETE ON links REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_links_generation();
CREATE TRIGGER moves_inserted AFTER INSERT ON moves REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_links_generation();
CREATE TRIGGER moves_updated AFTER UPDATE ON moves REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_links_generation();
CREATE TRIGGER moves_deleted AFTER DELETE ON moves REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_links_generation();
