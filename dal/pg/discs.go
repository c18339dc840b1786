package pg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learecordshop/recordshop/biz/model"
)

// Discs is the repository of the discs table and of the stock_events rows its stock changes write.
// Every change of a disc bumps stock_version and writes the stock_events row of that version in the same
// statement, so the ledger and the outbox to Redis can never disagree with the disc.
type Discs struct {
	pool *pgxpool.Pool
}

// NewDiscs returns the discs repository on pool.
func NewDiscs(pool *pgxpool.Pool) *Discs { return &Discs{pool: pool} }

const discColumns = `id, name, artist, release_year, style, price_cents, stock, stock_version, sale_starts_at,
    per_customer_limit, archived, created_at, updated_at`

// scanDisc reads a row of leading columns (pointers in lead) followed by the disc columns and trailing ones.
func scanDisc(row pgx.Row, trail ...any) (model.Disc, error) {
	return scanDiscAfter(row, nil, trail...)
}

func scanDiscAfter(row pgx.Row, lead []any, trail ...any) (model.Disc, error) {
	var d model.Disc
	dest := append(lead, &d.ID, &d.Name, &d.Artist, &d.ReleaseYear, &d.Style, &d.PriceCents, &d.Stock,
		&d.StockVersion, &d.SaleStartsAt, &d.PerCustomerLimit, &d.Archived, &d.CreatedAt, &d.UpdatedAt)
	err := row.Scan(append(dest, trail...)...)
	if !d.Archived {
		d.Available = d.Stock
	}
	return d, err
}

const insertDisc = `
WITH d AS (
    INSERT INTO discs (name, artist, release_year, style, price_cents, stock, sale_starts_at, per_customer_limit)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    RETURNING *
), e AS (
    INSERT INTO stock_events (disc_id, version, delta, reason)
    SELECT id, stock_version, stock, 'create' FROM d
)
SELECT ` + discColumns + ` FROM d`

// Create inserts a validated disc with its "create" stock event (version 1, delta = initial stock).
func (r *Discs) Create(ctx context.Context, in model.DiscCreate) (model.Disc, error) {
	d, err := scanDisc(r.pool.QueryRow(ctx, insertDisc, in.Name, in.Artist, in.ReleaseYear, in.Style,
		*in.PriceCents, in.Stock, in.StartsAt, in.PerCustomerLimit))
	return d, translate("discs.create", err)
}

const selectDisc = `SELECT ` + discColumns + ` FROM discs WHERE id = $1`

// Get returns one disc, archived or not, or model.ErrNotFound.
func (r *Discs) Get(ctx context.Context, id int64) (model.Disc, error) {
	d, err := scanDisc(r.pool.QueryRow(ctx, selectDisc, id))
	return d, translate("discs.get", err)
}

// The new stock_events row takes the bumped version; its delta is the stock difference the change made.
const updateDisc = `
WITH old AS (
    SELECT id, stock FROM discs WHERE id = $1 AND NOT archived FOR UPDATE
), d AS (
    UPDATE discs SET
        name               = COALESCE($2, name),
        artist             = COALESCE($3, artist),
        release_year       = COALESCE($4, release_year),
        style              = COALESCE($5, style),
        price_cents        = COALESCE($6, price_cents),
        stock              = COALESCE($7, discs.stock),
        sale_starts_at     = COALESCE($8, sale_starts_at),
        per_customer_limit = COALESCE($9, per_customer_limit),
        stock_version      = stock_version + 1,
        updated_at         = now()
    FROM old WHERE discs.id = old.id
    RETURNING discs.*, discs.stock - old.stock AS delta
), e AS (
    INSERT INTO stock_events (disc_id, version, delta, reason)
    SELECT id, stock_version, delta, 'adjust' FROM d
)
SELECT ` + discColumns + `, delta FROM d`

// Update applies a validated patch with an "adjust" stock event, so that price, limit and sale start reach
// Redis by the same outbox as stock. An archived disc is model.ErrArchived. guard may be nil.
func (r *Discs) Update(ctx context.Context, id int64, p model.DiscPatch, guard model.StockGuard) (model.Disc, error) {
	return r.change(ctx, "discs.update", id, 0, guard, updateDisc, id, p.Name, p.Artist, p.ReleaseYear, p.Style,
		p.PriceCents, p.Stock, p.StartsAt, p.PerCustomerLimit)
}

// maxStock is model.MaxStock as SQL text: a restock never takes stock above it.
var maxStock = strconv.Itoa(model.MaxStock)

var restockDisc = `
WITH d AS (
    UPDATE discs SET stock = stock + $2, stock_version = stock_version + 1, updated_at = now()
    WHERE id = $1 AND NOT archived AND stock + $2 BETWEEN 0 AND ` + maxStock + `
    RETURNING *
), e AS (
    INSERT INTO stock_events (disc_id, version, delta, reason)
    SELECT id, stock_version, $2, 'restock' FROM d
)
SELECT ` + discColumns + `, $2::bigint FROM d`

// Restock adds delta units (or removes them when negative) with a "restock" stock event. It never drives
// stock below zero (a *model.InsufficientStockError) nor above model.MaxStock (a *model.StockLimitError). guard
// may be nil.
func (r *Discs) Restock(ctx context.Context, id, delta int64, guard model.StockGuard) (model.Disc, error) {
	return r.change(ctx, "discs.restock", id, delta, guard, restockDisc, id, delta)
}

// change runs one stock-changing statement (it returns the disc and the delta it made) in a transaction with
// the guard of a negative delta.
func (r *Discs) change(ctx context.Context, op string, id, delta int64, guard model.StockGuard, sql string, args ...any) (model.Disc, error) {
	if guard != nil {
		// Once the guard changed Redis, a client that goes away must not roll Postgres back under it.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
	}
	var d model.Disc
	guarded := false
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var made int64
		var err error
		if d, err = scanDisc(tx.QueryRow(ctx, sql, args...), &made); err != nil || made >= 0 || guard == nil {
			return err
		}
		if err := guard(ctx, d, made); err != nil {
			return err
		}
		guarded = true
		_, err = tx.Exec(ctx, `UPDATE stock_events SET applied_at = now() WHERE disc_id = $1 AND version = $2`, d.ID, d.StockVersion)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return d, r.whyNoChange(ctx, op, id, delta)
	}
	if err != nil && guarded {
		return d, fmt.Errorf("%s: redis applied version %d of disc %d but postgres did not commit it; run recordshop reconcile --fix: %w",
			op, d.StockVersion, d.ID, translate(op, err))
	}
	return d, translate(op, err)
}

// whyNoChange tells why a conditional update matched no row: the disc is missing, archived, short of stock
// for a negative delta, or at its ceiling for a positive one.
func (r *Discs) whyNoChange(ctx context.Context, op string, id, delta int64) error {
	var archived bool
	var stock int64
	err := r.pool.QueryRow(ctx, `SELECT archived, stock FROM discs WHERE id = $1`, id).Scan(&archived, &stock)
	switch {
	case err != nil:
		return translate(op, err)
	case archived:
		return model.ErrArchived
	case stock+delta < 0:
		return &model.InsufficientStockError{Stock: stock}
	case stock+delta > model.MaxStock:
		return &model.StockLimitError{Stock: stock}
	}
	return fmt.Errorf("%s: %w", op, model.ErrConcurrentChange)
}

const archiveDisc = `
WITH d AS (
    UPDATE discs SET archived = true, stock_version = stock_version + 1, updated_at = now()
    WHERE id = $1 AND NOT archived
    RETURNING *
), e AS (
    INSERT INTO stock_events (disc_id, version, delta, reason)
    SELECT id, stock_version, 0, 'archive' FROM d
)
SELECT ` + discColumns + ` FROM d`

// Archive takes a disc off sale with an "archive" stock event (so Redis stops selling it). Archiving an archived
// disc changes nothing and returns it.
func (r *Discs) Archive(ctx context.Context, id int64) (model.Disc, error) {
	d, err := scanDisc(r.pool.QueryRow(ctx, archiveDisc, id))
	if errors.Is(err, pgx.ErrNoRows) {
		d, err = r.Get(ctx, id)
		if err == nil && !d.Archived {
			err = model.ErrConcurrentChange
		}
		return d, translate("discs.archive", err)
	}
	return d, translate("discs.archive", err)
}

// Sold reports whether Postgres holds any order of the disc (its running ordered total, one row read).
func (r *Discs) Sold(ctx context.Context, id int64) (bool, error) {
	var sold bool
	err := r.pool.QueryRow(ctx, `SELECT ordered_total > 0 FROM discs WHERE id = $1`, id).Scan(&sold)
	return sold, translate("discs.sold", err)
}

// RemoveIfUnordered deletes an archived disc that has no orders (its stock events go with it) and reports
// whether it did. The row lock makes a concurrent order insert, which takes FOR KEY SHARE on the disc, wait.
func (r *Discs) RemoveIfUnordered(ctx context.Context, id int64) (bool, error) {
	tag, err := r.pool.Exec(ctx, `DELETE FROM discs WHERE id = $1 AND archived
		AND NOT EXISTS (SELECT 1 FROM orders WHERE disc_id = $1)`, id)
	return err == nil && tag.RowsAffected() == 1, translate("discs.remove", err)
}

// discSortColumns maps a sort key to the SQL expression it orders by and the type its cursor value is cast to.
var discSortColumns = map[string]struct{ expr, cast string }{
	"name":         {"lower(name)", "text"},
	"artist":       {"lower(artist)", "text"},
	"release_year": {"release_year", "integer"},
	"created_at":   {"created_at", "timestamptz"},
}

// List returns one page of discs, filtered and in keyset order (sort key, then id), either direction.
func (r *Discs) List(ctx context.Context, q model.DiscQuery) (model.List[model.Disc], error) {
	var w where
	if q.Name != "" {
		w.add("name ILIKE $%d", containsPattern(q.Name))
	}
	if q.Artist != "" {
		w.add("artist ILIKE $%d", containsPattern(q.Artist))
	}
	if q.Style != "" {
		w.add("lower(style) = lower($%d)", q.Style)
	}
	if q.Year != 0 {
		w.add("release_year = $%d", q.Year)
	}
	if q.YearFrom != 0 {
		w.add("release_year >= $%d", q.YearFrom)
	}
	if q.YearTo != 0 {
		w.add("release_year <= $%d", q.YearTo)
	}
	if q.InStock != nil {
		if *q.InStock {
			w.addRaw("stock > 0")
		} else {
			w.addRaw("stock = 0")
		}
	}
	w.add("archived = $%d", q.Archived)
	col := discSortColumns[q.SortKey]
	op, dir := ">", "ASC"
	if q.Desc {
		op, dir = "<", "DESC"
	}
	if q.After != nil {
		w.args = append(w.args, q.After.Value, q.After.ID)
		w.addRaw("(" + col.expr + ", id) " + op + " ($" + strconv.Itoa(len(w.args)-1) + "::" + col.cast +
			", $" + strconv.Itoa(len(w.args)) + ")")
	}
	sql := `SELECT ` + discColumns + `, ` + col.expr + `::text AS sort_key FROM discs` + w.sql() +
		` ORDER BY ` + col.expr + ` ` + dir + `, id ` + dir + ` LIMIT ` + strconv.Itoa(q.Limit+1)
	rows, err := r.pool.Query(ctx, sql, w.args...)
	if err != nil {
		return model.List[model.Disc]{}, translate("discs.list", err)
	}
	type sorted struct {
		disc model.Disc
		key  string
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sorted, error) {
		var s sorted
		var err error
		s.disc, err = scanDisc(row, &s.key)
		return s, err
	})
	if err != nil {
		return model.List[model.Disc]{}, translate("discs.list", err)
	}
	p := page(items, q.Limit, func(s sorted) model.Cursor {
		if q.SortKey == "created_at" {
			s.key = model.CursorTime(s.disc.CreatedAt)
		}
		return model.Cursor{Sort: q.Sort(), Value: s.key, ID: s.disc.ID}
	})
	out := model.List[model.Disc]{Items: make([]model.Disc, len(p.Items)), Next: p.Next}
	for i, s := range p.Items {
		out.Items[i] = s.disc
	}
	return out, nil
}

// CreateMany inserts many validated discs in one round trip (seeding, benchmarks), each with its
// "create" stock event.
func (r *Discs) CreateMany(ctx context.Context, in []model.DiscCreate) error {
	b := &pgx.Batch{}
	for _, d := range in {
		b.Queue(insertDisc, d.Name, d.Artist, d.ReleaseYear, d.Style, *d.PriceCents, d.Stock, d.StartsAt, d.PerCustomerLimit)
	}
	return translate("discs.create_many", r.pool.SendBatch(ctx, b).Close())
}

// FindByNameArtist returns the first disc (by id) with exactly this name and artist, or model.ErrNotFound.
func (r *Discs) FindByNameArtist(ctx context.Context, name, artist string) (model.Disc, error) {
	d, err := scanDisc(r.pool.QueryRow(ctx, `SELECT `+discColumns+` FROM discs WHERE name = $1 AND artist = $2 ORDER BY id LIMIT 1`, name, artist))
	return d, translate("discs.find", err)
}

// SaleIDs returns the ids of every disc on sale (not archived): the ones Redis must hold.
func (r *Discs) SaleIDs(ctx context.Context) ([]int64, error) {
	rows, err := r.pool.Query(ctx, `SELECT id FROM discs WHERE NOT archived ORDER BY id`)
	if err != nil {
		return nil, translate("discs.sale_ids", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, translate("discs.sale_ids", err)
}
