package model

import "github.com/google/uuid"

// StockEvent is one stock change Postgres committed that Redis has not applied yet (a row of the stock_events
// outbox), with the disc as it is now (Redis takes its price, limit, sale start and active flag from it) and,
// for a cancel, the customer whose units come back.
type StockEvent struct {
	DiscID     int64
	Version    int64
	Delta      int64
	Reason     string
	CustomerID int64 // cancels only
	Disc       Disc
}

// DiscLedger is a disc's stock as Postgres has it, read in one snapshot with the units each customer has in
// confirmed orders and which of some pending orders Postgres has by now.
type DiscLedger struct {
	Stock     int64
	Version   int64
	Bought    map[int64]int64 // confirmed units per customer (only some customers when Partial)
	Partial   bool            // Bought holds only the customers asked for, not every buyer
	Persisted map[uuid.UUID]bool
}

// BuyerUnits is a customer's confirmed units of a disc as Postgres has them, with the disc's stock version at
// that read (the version tells whether Redis has applied the same cancels).
type BuyerUnits struct {
	Units, Version int64
}
