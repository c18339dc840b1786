package console

import "time"

// View is the body of GET /v1/admin/console: everything the page shows, read at one moment. Times are the
// shop's clock, in UTC; the page counts down from Now, not from the browser's clock.
type View struct {
	Now time.Time `json:"now"`
	// Live is "ok" when the store that decides what sells (Redis) answered, "unavailable" when it did not;
	// then every disc's available and sold are null and LiveError says why.
	Live       string          `json:"live"`
	LiveError  string          `json:"live_error,omitempty"`
	Discs      []DiscView      `json:"discs"`
	Partitions []PartitionView `json:"partitions"` // empty when orders go to Postgres directly
	Writer     WriterView      `json:"writer"`
	Reconcile  ReconcileView   `json:"reconcile"`
}

// DiscView is one disc on sale, or about to be.
type DiscView struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	Artist       string    `json:"artist"`
	SaleStartsAt time.Time `json:"sale_starts_at"`
	OnSale       bool      `json:"on_sale"`
	// Supplied is the units the disc was put on sale with: created, restocked and adjusted.
	Supplied int64 `json:"supplied"`
	// Available is the live count that sells (Redis'); null when it could not be read or Redis does not hold
	// the disc yet.
	Available *int64 `json:"available"`
	// Sold is Supplied less Available: units of confirmed orders not cancelled, Postgres' and those still on
	// their way to it alike.
	Sold *int64 `json:"sold"`
	// SoldOutAt is when the disc sold out, while none is left; null otherwise.
	SoldOutAt *time.Time `json:"sold_out_at"`
	// Reconcile is the disc's verdict in the latest completed reconcile check (ok, drift, missing, ledger,
	// stuck, dead-letter), or not-checked.
	Reconcile string     `json:"reconcile"`
	Orders    OrdersView `json:"orders"`
}

// OrdersView is what this process answered to POST /v1/orders for one disc over the last minute.
type OrdersView struct {
	WindowSeconds        float64  `json:"window_seconds"` // up to 60; less when counting began more recently
	Orders               uint64   `json:"orders"`         // answers of every kind
	Created              uint64   `json:"created"`        // 201
	Conflict             uint64   `json:"conflict"`       // 409
	Unavailable          uint64   `json:"unavailable"`    // 503
	PerSecond            float64  `json:"per_second"`
	CreatedPerSecond     float64  `json:"created_per_second"`
	ConflictPerSecond    float64  `json:"conflict_per_second"`
	UnavailablePerSecond float64  `json:"unavailable_per_second"`
	LastSecond           uint64   `json:"last_second"` // answers in the latest whole second
	P50Ms                *float64 `json:"p50_ms"`      // null without an answer in the window
	P99Ms                *float64 `json:"p99_ms"`
	// Series holds, oldest first, each second's answers: [orders, 201, 409, 503].
	Series [][4]uint64 `json:"series"`
}

// PartitionView is one partition's way to Postgres.
type PartitionView struct {
	Partition         int     `json:"partition"`
	Backlog           int64   `json:"backlog"`             // confirmed orders not in Postgres yet
	OldestWaitSeconds float64 `json:"oldest_wait_seconds"` // how long the oldest of them has waited: the lag
	DeadLetters       int64   `json:"dead_letters"`
}

// WriterView sums the partitions and adds the commit lag of this process's writer.
type WriterView struct {
	Backlog           int64   `json:"backlog"`
	DeadLetters       int64   `json:"dead_letters"`
	OldestWaitSeconds float64 `json:"oldest_wait_seconds"`
	// Landed is the orders this process's writer put in Postgres over the last minute, and LagP50Seconds and
	// LagP99Seconds their time from reservation to commit (recordshop_writer_lag_seconds); null without any.
	Landed        uint64   `json:"landed"`
	LagP50Seconds *float64 `json:"lag_p50_seconds"`
	LagP99Seconds *float64 `json:"lag_p99_seconds"`
}

// ReconcileView is the latest whole-shop reconcile check.
type ReconcileView struct {
	EverySeconds float64       `json:"every_seconds"` // the periodic check's interval; 0: off
	Ran          bool          `json:"ran"`           // a check finished since the process started
	Result       string        `json:"result,omitempty"`
	Trigger      string        `json:"trigger,omitempty"`
	StartedAt    *time.Time    `json:"started_at,omitempty"`
	FinishedAt   *time.Time    `json:"finished_at,omitempty"`
	TookSeconds  float64       `json:"took_seconds"`
	Summary      string        `json:"summary,omitempty"`
	Checked      int           `json:"checked"`
	Drifting     int           `json:"drifting"`
	Problems     []DiscVerdict `json:"problems,omitempty"`
	LastCleanAt  *time.Time    `json:"last_clean_at,omitempty"`
}

// DiscVerdict is a disc that was not ok.
type DiscVerdict struct {
	DiscID  int64  `json:"disc_id"`
	Verdict string `json:"verdict"`
}
