-- +goose NO TRANSACTION
-- Order lists and stream positions that cost a page, not a history (Orders.List, Orders.LastStreamIDs).
--
-- orders_customer_recent and orders_disc_recent hold each customer's and each disc's orders in the lists'
-- order, newest first, so that a page is the first entries under one key. They carry status, so that List
-- reads a page's keys from the index alone, with or without a status filter: an index-only read of a page is
-- cheaper than any plan that visits the table, and so it is also the plan a prepared statement's generic plan
-- (made for an average customer) picks. They replace orders_customer_reserved and orders_disc: every other
-- query those served (PlaceDirect's sums by customer, the sums and existence checks by disc_id of reconcile
-- and discs) is served as well by an index that leads with the same column.
--
-- orders_stream_position orders each partition's orders by stream position as numbers, ms then seq, with the
-- very expressions LastStreamIDs and reconcile's Ledger write: a partition's last position is one probe, and
-- the orders after a snapshot's position are a range. It makes a rule of what reconcile already assumed: the
-- stream_id of an order with a stream_partition must read as "ms-seq" (every Redis entry id does), or its
-- insert fails.
--
-- The indexes are built CONCURRENTLY, so that the shop keeps taking orders while a long history is indexed.
-- That cannot run in a transaction, hence NO TRANSACTION (goose then runs each statement in turn on the
-- connection that holds its lock), and a build may outlast the pool's 10 s statement_timeout, which this
-- session lifts to an hour (SET LOCAL needs a transaction) and resets at the end. A run that fails leaves the
-- hour on that pooled connection, but every caller of Migrate closes its pool on error. A build that fails
-- leaves an INVALID index and goose does not record the migration, so the next run starts over: each index is
-- dropped before it is built, rather than an invalid one kept by IF NOT EXISTS. The old indexes go last, once
-- the new ones serve their queries.

-- +goose Up
SET statement_timeout = '1h';
DROP INDEX CONCURRENTLY IF EXISTS orders_customer_recent;
CREATE INDEX CONCURRENTLY orders_customer_recent ON orders (customer_id, reserved_at DESC, id DESC) INCLUDE (status);
DROP INDEX CONCURRENTLY IF EXISTS orders_disc_recent;
CREATE INDEX CONCURRENTLY orders_disc_recent ON orders (disc_id, reserved_at DESC, id DESC) INCLUDE (status);
DROP INDEX CONCURRENTLY IF EXISTS orders_stream_position;
CREATE INDEX CONCURRENTLY orders_stream_position
    ON orders (stream_partition, (split_part(stream_id, '-', 1)::bigint), (split_part(stream_id, '-', 2)::bigint))
    WHERE stream_partition IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS orders_customer_reserved;
DROP INDEX CONCURRENTLY IF EXISTS orders_disc;
RESET statement_timeout;

-- +goose Down
SET statement_timeout = '1h';
DROP INDEX CONCURRENTLY IF EXISTS orders_customer_reserved;
CREATE INDEX CONCURRENTLY orders_customer_reserved ON orders (customer_id, reserved_at);
DROP INDEX CONCURRENTLY IF EXISTS orders_disc;
CREATE INDEX CONCURRENTLY orders_disc ON orders (disc_id);
DROP INDEX CONCURRENTLY IF EXISTS orders_stream_position;
DROP INDEX CONCURRENTLY IF EXISTS orders_disc_recent;
DROP INDEX CONCURRENTLY IF EXISTS orders_customer_recent;
RESET statement_timeout;
