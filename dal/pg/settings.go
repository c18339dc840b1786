package pg

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ClaimPartitions records the Redis partition count on first start and returns the one recorded, so the
// caller can refuse to run with another.
func ClaimPartitions(ctx context.Context, pool *pgxpool.Pool, partitions int) (int, error) {
	const q = `
WITH ins AS (
    INSERT INTO settings (key, value) VALUES ('partitions', $1) ON CONFLICT (key) DO NOTHING RETURNING value
)
SELECT value FROM ins UNION ALL SELECT value FROM settings WHERE key = 'partitions' LIMIT 1`
	// Two first starts at once: the second INSERT waits for the first to commit and then does nothing, but
	// its SELECT still reads the snapshot taken before that commit and finds no row. A new statement sees it.
	var v string
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = pool.QueryRow(ctx, q, strconv.Itoa(partitions)).Scan(&v); !errors.Is(err, pgx.ErrNoRows) {
			break
		}
	}
	if err != nil {
		return 0, translate("settings.claim_partitions", err)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("settings.claim_partitions: recorded value %q: %w", v, err)
	}
	return n, nil
}
