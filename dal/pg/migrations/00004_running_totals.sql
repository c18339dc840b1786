-- +goose Up
-- Running totals: what reconcile compares, kept by triggers in the same transactions as the rows they sum, so
-- that a check costs what a disc's current state costs, not every order the shop ever took.
--   discs.events_total   = sum(stock_events.delta) of the disc
--   discs.ordered_total  = sum(orders.quantity) of the disc, cancelled orders included
--   disc_buyers.units    = sum(orders.quantity) of the disc's confirmed orders of one customer
-- so the ledger identity reads discs.stock = events_total - ordered_total. `recordshop reconcile --full`
-- recounts the sums and reports any total that differs.
--
-- The triggers are per statement, over the transition tables: the writer's batch of 500 orders costs one
-- UPDATE of its discs and one upsert of its buyers, not 500 of each. Rows that exist before this migration
-- have NULL totals (NULL + n stays NULL) until migration 5 backfills them, disc by disc, while the shop runs;
-- rows made after it start at 0.
ALTER TABLE discs ADD COLUMN events_total bigint, ADD COLUMN ordered_total bigint;
ALTER TABLE discs ALTER COLUMN events_total SET DEFAULT 0, ALTER COLUMN ordered_total SET DEFAULT 0;

CREATE TABLE disc_buyers (
    disc_id     bigint NOT NULL REFERENCES discs (id) ON DELETE CASCADE,
    customer_id bigint NOT NULL,
    units       bigint NOT NULL CHECK (units >= 0),
    PRIMARY KEY (disc_id, customer_id)
);

-- +goose StatementBegin
CREATE FUNCTION totals_orders_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE discs d SET ordered_total = d.ordered_total + n.units
    FROM (SELECT disc_id, sum(quantity) AS units FROM new_orders GROUP BY disc_id) n
    WHERE d.id = n.disc_id;
    INSERT INTO disc_buyers AS b (disc_id, customer_id, units)
    SELECT disc_id, customer_id, sum(quantity) FROM new_orders WHERE status = 'confirmed' GROUP BY 1, 2
    ON CONFLICT (disc_id, customer_id) DO UPDATE SET units = b.units + excluded.units;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION totals_orders_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only a cancel changes what the totals count: the order stays in ordered_total (its units come back
    -- through its own cancel stock event) and leaves its customer's confirmed units.
    UPDATE disc_buyers b SET units = b.units - c.units
    FROM (SELECT n.disc_id, n.customer_id, sum(n.quantity) AS units
          FROM new_orders n JOIN old_orders o ON o.id = n.id
          WHERE o.status = 'confirmed' AND n.status = 'cancelled'
          GROUP BY 1, 2) c
    WHERE b.disc_id = c.disc_id AND b.customer_id = c.customer_id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION totals_events_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE discs d SET events_total = d.events_total + n.delta
    FROM (SELECT disc_id, sum(delta) AS delta FROM new_events GROUP BY disc_id) n
    WHERE d.id = n.disc_id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER orders_totals_inserted AFTER INSERT ON orders
    REFERENCING NEW TABLE AS new_orders FOR EACH STATEMENT EXECUTE FUNCTION totals_orders_inserted();
CREATE TRIGGER orders_totals_changed AFTER UPDATE ON orders
    REFERENCING OLD TABLE AS old_orders NEW TABLE AS new_orders FOR EACH STATEMENT EXECUTE FUNCTION totals_orders_changed();
CREATE TRIGGER stock_events_totals_inserted AFTER INSERT ON stock_events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION totals_events_inserted();

-- +goose Down
DROP TRIGGER stock_events_totals_inserted ON stock_events;
DROP TRIGGER orders_totals_changed ON orders;
DROP TRIGGER orders_totals_inserted ON orders;
DROP FUNCTION totals_events_inserted();
DROP FUNCTION totals_orders_changed();
DROP FUNCTION totals_orders_inserted();
DROP TABLE disc_buyers;
ALTER TABLE discs DROP COLUMN ordered_total, DROP COLUMN events_total;
