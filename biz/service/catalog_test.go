package service_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/learecordshop/recordshop/biz/model"
	"github.com/learecordshop/recordshop/biz/service"
)

// listedDiscs is Postgres' discs as far as reading the catalog goes.
type listedDiscs struct {
	service.DiscStore // any other call panics: the test does not expect it
	discs             []model.Disc
}

func (s listedDiscs) List(context.Context, model.DiscQuery) (model.List[model.Disc], error) {
	return model.List[model.Disc]{Items: append([]model.Disc(nil), s.discs...)}, nil
}

// liveCounts is a live side that holds the counts it is given (or fails with err), and otherwise does what
// Postgres mode does.
type liveCounts struct {
	service.PostgresStock
	avail map[int64]int64
	err   error
}

func (l liveCounts) Available(context.Context, []int64) (map[int64]int64, error) {
	return l.avail, l.err
}

// TestCatalogShowsTheLiveCount: a disc's `available` is the live count where the live side holds the disc,
// and its Postgres stock otherwise; an archived disc never shows a live count.
func TestCatalogShowsTheLiveCount(t *testing.T) {
	discs := []model.Disc{
		{ID: 1, Stock: 10, Available: 10},
		{ID: 2, Stock: 10, Available: 10, Archived: true},
		{ID: 3, Stock: 10, Available: 10}, // not loaded into Redis yet
	}
	live := map[int64]int64{1: 4, 2: 4}
	tests := []struct {
		name string
		live service.LiveStock
		want []int64
	}{
		{name: "redis", live: liveCounts{avail: live}, want: []int64{4, 10, 10}},
		{name: "redis unreachable", live: liveCounts{avail: live, err: errors.New("connection refused")}, want: []int64{10, 10, 10}},
		{name: "postgres", live: service.PostgresStock{}, want: []int64{10, 10, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := service.NewCatalog(listedDiscs{discs: discs}, tt.live, zap.NewNop())
			list, err := c.List(context.Background(), model.DiscQuery{})
			if err != nil {
				t.Fatal(err)
			}
			got := make([]int64, len(list.Items))
			for i, d := range list.Items {
				got[i] = d.Available
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("available of discs 1-3 (-want +got):\n%s", diff)
			}
		})
	}
}
