-- +goose Up
-- Deployment facts both stores must agree on (the Redis partition count); a mismatch is refused at start.
CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- Idempotency-Key lookups of the Postgres-only order path: keys are scoped to (customer, disc).
CREATE INDEX orders_idempotency ON orders (customer_id, disc_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- +goose Down
DROP INDEX orders_idempotency;
DROP TABLE settings;
