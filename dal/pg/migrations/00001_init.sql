-- +goose Up
-- pg_trgm backs the case-insensitive "contains" filters (name, artist) with GIN indexes.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE customers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document    text        NOT NULL CHECK (document ~ '^[0-9]{11}$'),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email       text        NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    phone       text        NOT NULL DEFAULT '',
    birth_date  date        NOT NULL,
    active      boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_document_key UNIQUE (document),
    CONSTRAINT customers_email_key UNIQUE (email)
);
CREATE INDEX customers_name_trgm ON customers USING gin (name gin_trgm_ops);
CREATE INDEX customers_active_id ON customers (active, id);

CREATE TABLE discs (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    artist             text        NOT NULL CHECK (length(artist) BETWEEN 1 AND 200),
    release_year       integer     NOT NULL CHECK (release_year BETWEEN 1860 AND 2100),
    style              text        NOT NULL CHECK (length(style) BETWEEN 1 AND 60),
    price_cents        bigint      NOT NULL CHECK (price_cents >= 0),
    stock              bigint      NOT NULL CHECK (stock >= 0),
    -- stock_version counts every change made in Postgres (create, restock, adjust, archive, cancel);
    -- the matching stock_events row carries it to Redis, which applies version v only after v-1.
    stock_version      bigint      NOT NULL DEFAULT 1 CHECK (stock_version >= 1),
    sale_starts_at     timestamptz NOT NULL DEFAULT now(),
    -- 0 means no per-customer limit.
    per_customer_limit integer     NOT NULL DEFAULT 0 CHECK (per_customer_limit >= 0),
    archived           boolean     NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX discs_name_trgm ON discs USING gin (name gin_trgm_ops);
CREATE INDEX discs_artist_trgm ON discs USING gin (artist gin_trgm_ops);
CREATE INDEX discs_style ON discs (lower(style));
CREATE INDEX discs_release_year ON discs (release_year, id);
CREATE INDEX discs_name_sort ON discs (lower(name), id);
CREATE INDEX discs_artist_sort ON discs (lower(artist), id);
CREATE INDEX discs_created_sort ON discs (created_at, id);

CREATE TABLE orders (
    id               uuid        PRIMARY KEY, -- UUIDv7 made by the API
    customer_id      bigint      NOT NULL REFERENCES customers (id),
    disc_id          bigint      NOT NULL REFERENCES discs (id),
    quantity         integer     NOT NULL CHECK (quantity > 0),
    unit_price_cents bigint      NOT NULL CHECK (unit_price_cents >= 0),
    status           text        NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'cancelled')),
    reserved_at      timestamptz NOT NULL,
    persisted_at     timestamptz NOT NULL DEFAULT now(),
    cancelled_at     timestamptz,
    idempotency_key  text,
    stream_partition integer,
    stream_id        text
);
CREATE INDEX orders_customer_reserved ON orders (customer_id, reserved_at);
CREATE INDEX orders_disc ON orders (disc_id);
CREATE INDEX orders_reserved ON orders (reserved_at);

-- stock_events is the ledger of every stock change that does not come from a new order, and the outbox
-- that carries it to Redis (applied_at is set once Redis has it).
-- Ledger identity: discs.stock = sum(stock_events.delta) - sum(orders.quantity), cancelled orders included.
CREATE TABLE stock_events (
    disc_id    bigint      NOT NULL REFERENCES discs (id) ON DELETE CASCADE,
    version    bigint      NOT NULL,
    delta      bigint      NOT NULL,
    reason     text        NOT NULL CHECK (reason IN ('create', 'restock', 'adjust', 'archive', 'cancel')),
    order_id   uuid        REFERENCES orders (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    applied_at timestamptz,
    PRIMARY KEY (disc_id, version),
    CHECK ((reason = 'cancel') = (order_id IS NOT NULL))
);
CREATE INDEX stock_events_unapplied ON stock_events (disc_id, version) WHERE applied_at IS NULL;
-- An order is cancelled at most once.
CREATE UNIQUE INDEX stock_events_cancel_once ON stock_events (order_id) WHERE reason = 'cancel';

-- +goose Down
DROP TABLE stock_events;
DROP TABLE orders;
DROP TABLE discs;
DROP TABLE customers;
