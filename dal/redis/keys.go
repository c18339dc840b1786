package redis

import (
	"strconv"
)

// Keys is the key layout of the stock gate. A disc lives in partition disc_id mod P; every key of partition p
// carries the hash tag {p}, so the keys one script touches share a slot and the same code runs on Redis
// Cluster. Namespace prefixes every key (tests give each test its own).
type Keys struct {
	Namespace  string
	Partitions int
}

// Partition is the partition of a disc.
func (k Keys) Partition(discID int64) int { return int(discID % int64(k.Partitions)) }

func (k Keys) tag(p int) string { return k.Namespace + "{" + strconv.Itoa(p) + "}:" }

// Disc is the hash of a disc: avail, ver, price, limit, starts, active.
func (k Keys) Disc(discID int64) string {
	return k.tag(k.Partition(discID)) + "disc:" + strconv.FormatInt(discID, 10)
}

// Bought is the hash of units bought of a disc per customer.
func (k Keys) Bought(discID int64) string {
	return k.tag(k.Partition(discID)) + "bought:" + strconv.FormatInt(discID, 10)
}

// Idempotency is the answer recorded for an Idempotency-Key, scoped to the customer and the disc (the disc's
// partition holds it, so the reservation stays one atomic step in one slot).
func (k Keys) Idempotency(discID, customerID int64, key string) string {
	return k.tag(k.Partition(discID)) + "idem:" + strconv.FormatInt(customerID, 10) + ":" + key
}

// Inactive is the set of deactivated customers of partition p (every partition holds them all).
func (k Keys) Inactive(p int) string { return k.tag(p) + "inactive" }

// Stream is the order stream of partition p.
func (k Keys) Stream(p int) string { return k.tag(p) + "orders" }

// Pending is the hash of partition p's confirmed orders not yet in Postgres: order id -> record.
func (k Keys) Pending(p int) string { return k.tag(p) + "pending" }

// Batch is where reserve.lua keeps the answers of one batch of partition p for a while, so that a repeat of
// the command (its answer was lost) gets them again instead of taking units twice.
func (k Keys) Batch(p int, id string) string { return k.tag(p) + "batch:" + id }

// DeadLetters is the stream of partition p's entries that failed too often to reach Postgres.
func (k Keys) DeadLetters(p int) string { return k.tag(p) + "dead" }

// Meta is the hash of deployment facts (the partition count), outside any partition.
func (k Keys) Meta() string { return k.Namespace + "meta" }
