package pg_test

import (
	"context"
	"sync"
	"testing"

	"github.com/learecordshop/recordshop/dal/pg"
	"github.com/learecordshop/recordshop/dal/testenv"
)

// TestClaimPartitionsWhenManyStartAtOnce: several processes starting together on a fresh database all get the
// partition count the first of them recorded, never an error. Repeated, since the race it guards is a matter
// of timing: the loser's SELECT used to read a snapshot from before the winner's commit and find nothing.
func TestClaimPartitionsWhenManyStartAtOnce(t *testing.T) {
	pool := testenv.PG(t)
	ctx := context.Background()
	const starters = 8
	for round := range 30 {
		if _, err := pool.Exec(ctx, `DELETE FROM settings WHERE key = 'partitions'`); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		got := make([]int, starters)
		errs := make([]error, starters)
		start := make(chan struct{})
		for i := range starters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[i], errs[i] = pg.ClaimPartitions(ctx, pool, 16)
			}()
		}
		close(start)
		wg.Wait()
		for i := range starters {
			if errs[i] != nil || got[i] != 16 {
				t.Fatalf("round %d, starter %d: %d, %v; want 16 and no error", round, i, got[i], errs[i])
			}
		}
	}
	if n, err := pg.ClaimPartitions(ctx, pool, 8); err != nil || n != 16 {
		t.Fatalf("a later start with another count: %d, %v; want the recorded 16", n, err)
	}
}
