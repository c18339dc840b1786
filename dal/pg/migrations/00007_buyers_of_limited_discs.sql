-- +goose Up
-- Units per customer are counted where a limit needs them, as Redis counts them: disc_buyers is kept for discs
-- with a per-customer limit only. Every reader of it reads discs with a limit (a buyer's units for the limit
-- check, reconcile's units per customer, the loads of Redis), and a limit cannot come to a disc that sold
-- without one (409 limit-after-sales), so no disc needs units it was not counting. For a launch of a disc
-- without a limit this takes the upsert of one row per buyer out of every writer batch. Rows of discs without
-- a limit that an earlier version counted stay as they were; nothing reads them.

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION totals_orders_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE discs d SET ordered_total = d.ordered_total + n.units
    FROM (SELECT disc_id, sum(quantity) AS units FROM new_orders GROUP BY disc_id) n
    WHERE d.id = n.disc_id;
    INSERT INTO disc_buyers AS b (disc_id, customer_id, units)
    SELECT o.disc_id, o.customer_id, sum(o.quantity)
    FROM new_orders o JOIN discs d ON d.id = o.disc_id AND d.per_customer_limit > 0
    WHERE o.status = 'confirmed' GROUP BY 1, 2
    ON CONFLICT (disc_id, customer_id) DO UPDATE SET units = b.units + excluded.units;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION totals_orders_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
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
