package pg_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/dal/pg"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// TestOrdersListPagesThroughEveryOrderOnce walks every page of each kind of order list and checks that the
// pages together hold exactly the orders the filter selects, newest first, ties broken by id, each once and
// as it was written: what a client paging with next_cursor sees.
func TestOrdersListPagesThroughEveryOrderOnce(t *testing.T) {
	ctx := context.Background()
	pool := testenv.PG(t)
	repo := pg.NewOrders(pool)
	var customers [2]int64
	for i := range customers {
		c, err := pg.NewCustomers(pool).Create(ctx, newCustomer(i+1))
		if err != nil {
			t.Fatal(err)
		}
		customers[i] = c.ID
	}
	var discs [2]int64
	for i := range discs {
		d, err := pg.NewDiscs(pool).Create(ctx, disc(fmt.Sprintf("Disc %d", i), "Artist", 2000, "Rock", 1000))
		if err != nil {
			t.Fatal(err)
		}
		discs[i] = d.ID
	}

	// Four orders share each reserved_at, so that pages end inside a tie and the cursor's id has to break it.
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(tick int) time.Time { return base.Add(time.Duration(tick) * time.Second) }
	all := make([]model.Order, 40)
	for i := range all {
		all[i] = model.Order{ID: uuid.New(), CustomerID: customers[min(i%3, 1)], DiscID: discs[i%2], Quantity: 1 + i%2,
			UnitPriceCents: 1000, Status: model.StatusConfirmed, ReservedAt: at(i / 4), Persisted: true,
			StreamPartition: i % 2, StreamID: fmt.Sprintf("%d-0", 1000+i)}
		all[i].TotalCents = all[i].UnitPriceCents * int64(all[i].Quantity)
	}
	if n, err := repo.InsertBatch(ctx, all); err != nil || n != len(all) {
		t.Fatalf("InsertBatch = %d, %v", n, err)
	}
	for i := 0; i < len(all); i += 5 {
		if _, _, err := repo.Cancel(ctx, all[i].ID); err != nil {
			t.Fatal(err)
		}
		all[i].Status = model.StatusCancelled
	}
	slices.SortFunc(all, func(a, b model.Order) int {
		if c := b.ReservedAt.Compare(a.ReservedAt); c != 0 {
			return c
		}
		return bytes.Compare(b.ID[:], a.ID[:]) // Postgres orders uuids by their bytes
	})

	from, to := at(2), at(7)
	for _, tc := range []struct {
		name string
		q    model.OrderQuery
		want func(model.Order) bool
	}{
		{"every order", model.OrderQuery{}, func(model.Order) bool { return true }},
		{"customer", model.OrderQuery{CustomerID: customers[1]}, func(o model.Order) bool { return o.CustomerID == customers[1] }},
		{"customer from to", model.OrderQuery{CustomerID: customers[1], From: &from, To: &to}, func(o model.Order) bool {
			return o.CustomerID == customers[1] && !o.ReservedAt.Before(from) && o.ReservedAt.Before(to)
		}},
		{"customer status", model.OrderQuery{CustomerID: customers[0], Status: model.StatusConfirmed}, func(o model.Order) bool {
			return o.CustomerID == customers[0] && o.Status == model.StatusConfirmed
		}},
		{"disc", model.OrderQuery{DiscID: discs[0]}, func(o model.Order) bool { return o.DiscID == discs[0] }},
		{"disc status", model.OrderQuery{DiscID: discs[0], Status: model.StatusCancelled}, func(o model.Order) bool {
			return o.DiscID == discs[0] && o.Status == model.StatusCancelled
		}},
		{"customer and disc", model.OrderQuery{CustomerID: customers[1], DiscID: discs[1]}, func(o model.Order) bool {
			return o.CustomerID == customers[1] && o.DiscID == discs[1]
		}},
		{"status from", model.OrderQuery{Status: model.StatusConfirmed, From: &from}, func(o model.Order) bool {
			return o.Status == model.StatusConfirmed && !o.ReservedAt.Before(from)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []model.Order
			for _, o := range all {
				if tc.want(o) {
					want = append(want, o)
				}
			}
			q := tc.q
			q.Limit = 3
			var got []model.Order
			for pages := 0; ; pages++ {
				if pages > len(all) {
					t.Fatalf("still paging after %d pages", pages)
				}
				list, err := repo.List(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(list.Items) > q.Limit || (list.Next != nil && len(list.Items) < q.Limit) {
					t.Fatalf("page %d has %d orders (next %v); limit %d", pages, len(list.Items), list.Next, q.Limit)
				}
				got = append(got, list.Items...)
				if list.Next == nil {
					break
				}
				q.After = list.Next
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("orders over all pages (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLastStreamIDsComparesPositionsAsNumbers checks the positions the writer and reconcile --rebuild resume
// after: per partition the highest ms, then the highest seq, as numbers ("10-1" is after "9-5", which sorts
// after it as text), partitions without orders left out.
func TestLastStreamIDsComparesPositionsAsNumbers(t *testing.T) {
	ctx := context.Background()
	pool := testenv.PG(t)
	repo := pg.NewOrders(pool)
	if got, err := repo.LastStreamIDs(ctx); err != nil || len(got) != 0 {
		t.Fatalf("LastStreamIDs of no orders = %v, %v; want none", got, err)
	}

	c, err := pg.NewCustomers(pool).Create(ctx, newCustomer(1))
	if err != nil {
		t.Fatal(err)
	}
	d, err := pg.NewDiscs(pool).Create(ctx, disc("Positions", "Artist", 2000, "Rock", 100))
	if err != nil {
		t.Fatal(err)
	}
	var batch []model.Order
	for _, pos := range []struct {
		partition int
		id        string
	}{
		{0, "9-5"}, {0, "10-1"}, {0, "10-0"}, {0, "2-99"},
		{1, "1700000000000-3"}, {1, "1700000000000-12"}, {1, "999999999999-99"},
		{3, "5-0"},
	} {
		batch = append(batch, model.Order{ID: uuid.New(), CustomerID: c.ID, DiscID: d.ID, Quantity: 1, UnitPriceCents: 1000,
			ReservedAt: time.Now(), StreamPartition: pos.partition, StreamID: pos.id})
	}
	if _, err := repo.InsertBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// An order of the Postgres-only path has no stream position.
	if _, err := pool.Exec(ctx, `INSERT INTO orders (id, customer_id, disc_id, quantity, unit_price_cents, reserved_at)
		VALUES (gen_random_uuid(), $1, $2, 1, 1000, now())`, c.ID, d.ID); err != nil {
		t.Fatal(err)
	}

	got, err := repo.LastStreamIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{0: "10-1", 1: "1700000000000-12", 3: "5-0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LastStreamIDs (-want +got):\n%s", diff)
	}
}
