package pg_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/pg"
	"github.com/learecordshop/recordshop/dal/testenv"
)

func price(c int64) *int64 { return &c }

func disc(name, artist string, year int, style string, stock int64) model.DiscCreate {
	return model.DiscCreate{Name: name, Artist: artist, ReleaseYear: year, Style: style, PriceCents: price(1000),
		Stock: stock, StartsAt: time.Now()}
}

// assertLedger checks the ledger identity of DESIGN.md for every disc:
// stock = sum(stock_events.delta) - sum(orders.quantity), and stock >= 0.
func assertLedger(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT d.id, d.stock,
		       COALESCE((SELECT sum(delta) FROM stock_events e WHERE e.disc_id = d.id), 0)
		     - COALESCE((SELECT sum(quantity) FROM orders o WHERE o.disc_id = d.id), 0),
		       d.stock_version, COALESCE((SELECT max(version) FROM stock_events e WHERE e.disc_id = d.id), 0)
		FROM discs d`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, stock, ledger, version, lastEvent int64
		if err := rows.Scan(&id, &stock, &ledger, &version, &lastEvent); err != nil {
			t.Fatal(err)
		}
		if stock != ledger || stock < 0 {
			t.Errorf("disc %d: stock %d, ledger says %d", id, stock, ledger)
		}
		if version != lastEvent {
			t.Errorf("disc %d: stock_version %d but last stock event is version %d", id, version, lastEvent)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestDiscStockChangesKeepTheLedger(t *testing.T) {
	ctx := context.Background()
	pool := testenv.PG(t)
	repo := pg.NewDiscs(pool)
	d, err := repo.Create(ctx, disc("We are Reactive", "Hohpe", 2022, "Indie", 500))
	if err != nil {
		t.Fatal(err)
	}
	if d.Stock != 500 || d.Available != 500 || d.StockVersion != 1 {
		t.Fatalf("created disc = %+v", d)
	}
	d, err = repo.Restock(ctx, d.ID, 25, nil)
	if err != nil || d.Stock != 525 || d.StockVersion != 2 {
		t.Fatalf("Restock(+25) = %+v, %v", d, err)
	}
	d, err = repo.Restock(ctx, d.ID, -525, nil)
	if err != nil || d.Stock != 0 {
		t.Fatalf("Restock(-525) = %+v, %v", d, err)
	}
	var short *model.InsufficientStockError
	if _, err := repo.Restock(ctx, d.ID, -1, nil); !errors.As(err, &short) || short.Stock != 0 {
		t.Fatalf("Restock below zero: err = %v; want InsufficientStockError{0}", err)
	}
	stock, limit := int64(40), 3
	d, err = repo.Update(ctx, d.ID, model.DiscPatch{Stock: &stock, PerCustomerLimit: &limit}, nil)
	if err != nil || d.Stock != 40 || d.PerCustomerLimit != 3 || d.StockVersion != 4 {
		t.Fatalf("Update(stock=40) = %+v, %v", d, err)
	}
	if _, err := repo.Restock(ctx, 9999, 1, nil); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("Restock(missing) err = %v; want ErrNotFound", err)
	}
	var reasons []string
	rows, _ := pool.Query(ctx, `SELECT reason FROM stock_events WHERE disc_id = $1 ORDER BY version`, d.ID)
	for rows.Next() {
		var r string
		_ = rows.Scan(&r)
		reasons = append(reasons, r)
	}
	if diff := cmp.Diff([]string{"create", "restock", "restock", "adjust"}, reasons); diff != "" {
		t.Fatalf("stock event reasons (-want +got):\n%s", diff)
	}
	assertLedger(t, pool)
}

func TestDiscArchiveAndRemove(t *testing.T) {
	ctx := context.Background()
	pool := testenv.PG(t)
	repo := pg.NewDiscs(pool)
	unsold, err := repo.Create(ctx, disc("Unsold", "Nobody", 2000, "Pop", 3))
	if err != nil {
		t.Fatal(err)
	}
	sold, err := repo.Create(ctx, disc("Sold", "Somebody", 2001, "Pop", 3))
	if err != nil {
		t.Fatal(err)
	}
	cust, err := pg.NewCustomers(pool).Create(ctx, newCustomer(1))
	if err != nil {
		t.Fatal(err)
	}
	// An order as the writer will record it: the row and the stock it took.
	if _, err := pool.Exec(ctx, `INSERT INTO orders (id, customer_id, disc_id, quantity, unit_price_cents, reserved_at)
		VALUES (gen_random_uuid(), $1, $2, 1, 1000, now())`, cust.ID, sold.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE discs SET stock = stock - 1 WHERE id = $1`, sold.ID); err != nil {
		t.Fatal(err)
	}

	for _, id := range []int64{unsold.ID, sold.ID} {
		d, err := repo.Archive(ctx, id)
		if err != nil || !d.Archived || d.Available != 0 || d.StockVersion != 2 {
			t.Fatalf("Archive(%d) = %+v, %v", id, d, err)
		}
	}
	if d, err := repo.Archive(ctx, sold.ID); err != nil || d.StockVersion != 2 {
		t.Fatalf("archiving twice = %+v, %v; want no new version", d, err)
	}
	if removed, err := repo.RemoveIfUnordered(ctx, unsold.ID); err != nil || !removed {
		t.Fatalf("RemoveIfUnordered(unsold) = %v, %v; want removed", removed, err)
	}
	if _, err := repo.Get(ctx, unsold.ID); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("Get(removed) err = %v; want ErrNotFound", err)
	}
	if removed, err := repo.RemoveIfUnordered(ctx, sold.ID); err != nil || removed {
		t.Fatalf("RemoveIfUnordered(sold) = %v, %v; want kept", removed, err)
	}
	if d, err := repo.Get(ctx, sold.ID); err != nil || d.Stock != 2 {
		t.Fatalf("Get(archived) = %+v, %v; want it with its stock", d, err)
	}
	if _, err := repo.Restock(ctx, sold.ID, 1, nil); !errors.Is(err, model.ErrArchived) {
		t.Fatalf("Restock(archived) err = %v; want ErrArchived", err)
	}
	name := "x"
	if _, err := repo.Update(ctx, sold.ID, model.DiscPatch{Name: &name}, nil); !errors.Is(err, model.ErrArchived) {
		t.Fatalf("Update(archived) err = %v; want ErrArchived", err)
	}
	if _, err := repo.Archive(ctx, 9999); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("Archive(missing) err = %v; want ErrNotFound", err)
	}
	assertLedger(t, pool)
}

// catalog makes a small catalog whose every filter has hits and misses, and returns the ids by name.
func catalog(t *testing.T, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	repo := pg.NewDiscs(pool)
	ids := map[string]int64{}
	for _, d := range []model.DiscCreate{
		disc("We are Reactive", "Hohpe", 2022, "Indie", 500),
		disc("Enterprise Integration Patterns", "Gregor Hohpe", 2003, "Jazz", 0),
		disc("Kind of Blue", "Miles Davis", 1959, "Jazz", 40),
		disc("Blue Train", "John Coltrane", 1958, "jazz", 18),
		disc("Abbey Road", "The Beatles", 1969, "Rock", 35),
		disc("In Rainbows", "Radiohead", 2007, "Indie", 30),
		disc("100% Blue", "Various_Artists", 2022, "Pop", 1),
		disc("Archived One", "Hohpe", 2022, "Indie", 5),
	} {
		created, err := repo.Create(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		ids[d.Name] = created.ID
	}
	// Archiving needs orders; the list filter only needs the flag.
	if _, err := pool.Exec(context.Background(), `UPDATE discs SET archived = true WHERE id = $1`, ids["Archived One"]); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestDiscListFilters(t *testing.T) {
	pool := testenv.PG(t)
	catalog(t, pool)
	repo := pg.NewDiscs(pool)
	tests := []struct {
		query string
		want  []string // names, in the default order (created_at, then id)
	}{
		{"", []string{"We are Reactive", "Enterprise Integration Patterns", "Kind of Blue", "Blue Train", "Abbey Road", "In Rainbows", "100% Blue"}},
		{"name=blue", []string{"Kind of Blue", "Blue Train", "100% Blue"}},
		{"name=BLUE+T", []string{"Blue Train"}},
		{"name=100%25", []string{"100% Blue"}},
		{"name=%25", []string{"100% Blue"}}, // % is literal, not a wildcard
		{"artist=hohpe", []string{"We are Reactive", "Enterprise Integration Patterns"}},
		{"artist=ohp_", nil},    // _ is literal, else it would find "Hohpe"
		{"artist=Variou_", nil}, // likewise "Various_Artists"
		{"artist=us_ar", []string{"100% Blue"}},
		{"style=JAZZ", []string{"Enterprise Integration Patterns", "Kind of Blue", "Blue Train"}},
		{"style=jaz", nil}, // style is exact (any case), not contains
		{"year=2022", []string{"We are Reactive", "100% Blue"}},
		{"year_from=2003", []string{"We are Reactive", "Enterprise Integration Patterns", "In Rainbows", "100% Blue"}},
		{"year_to=1959", []string{"Kind of Blue", "Blue Train"}},
		{"year_from=1959&year_to=1969", []string{"Kind of Blue", "Abbey Road"}},
		{"in_stock=false", []string{"Enterprise Integration Patterns"}},
		{"in_stock=true&style=jazz", []string{"Kind of Blue", "Blue Train"}},
		{"archived=true", []string{"Archived One"}},
		{"artist=hohpe&year=2022&style=indie", []string{"We are Reactive"}},
		{"artist=hohpe&year=2022&style=indie&archived=true", []string{"Archived One"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q := parseDiscQuery(t, tt.query)
			list, err := repo.List(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, discNames(list.Items)); diff != "" {
				t.Fatalf("names (-want +got):\n%s", diff)
			}
		})
	}
}

// cursors signs the cursors these tests page with, as the handlers do.
var cursors = model.NewCursorCodec([]byte("dal tests' cursor key, 32 bytes."))

func parseDiscQuery(t *testing.T, raw string) model.DiscQuery {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	q, err := model.ParseDiscQuery(v, cursors)
	if err != nil {
		t.Fatalf("ParseDiscQuery(%q): %v", raw, err)
	}
	return q
}

func discNames(ds []model.Disc) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

// TestDiscListPagination walks every sort order in both directions, 2 discs a page, through the cursors the
// list hands out, and compares with the whole ordering computed here.
func TestDiscListPagination(t *testing.T) {
	pool := testenv.PG(t)
	catalog(t, pool)
	repo := pg.NewDiscs(pool)
	all, err := repo.List(context.Background(), parseDiscQuery(t, "limit=100"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]func(a, b model.Disc) int{
		"name":         func(a, b model.Disc) int { return compareFold(a.Name, b.Name) },
		"artist":       func(a, b model.Disc) int { return compareFold(a.Artist, b.Artist) },
		"release_year": func(a, b model.Disc) int { return a.ReleaseYear - b.ReleaseYear },
		"created_at":   func(a, b model.Disc) int { return a.CreatedAt.Compare(b.CreatedAt) },
	}
	for key, cmpKey := range keys {
		for _, desc := range []bool{false, true} {
			sort := key
			if desc {
				sort = "-" + key
			}
			t.Run(sort, func(t *testing.T) {
				want := slices.Clone(all.Items)
				slices.SortFunc(want, func(a, b model.Disc) int {
					c := cmpKey(a, b)
					if c == 0 {
						c = int(a.ID - b.ID)
					}
					if desc {
						c = -c
					}
					return c
				})
				var got []model.Disc
				raw := "limit=2&sort=" + sort
				for pages := 0; ; pages++ {
					if pages > len(want) {
						t.Fatal("pagination does not end")
					}
					list, err := repo.List(context.Background(), parseDiscQuery(t, raw))
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, list.Items...)
					if list.Next == nil {
						break
					}
					raw = "limit=2&sort=" + sort + "&cursor=" + cursors.Encode(*list.Next)
				}
				if diff := cmp.Diff(discNames(want), discNames(got)); diff != "" {
					t.Fatalf("order over all pages (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// compareFold orders as Postgres' lower() does for ASCII names.
func compareFold(a, b string) int {
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}
