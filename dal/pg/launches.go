package pg

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/learecordshop/recordshop/biz/model"
)

// LaunchDisc is a disc as the launch console shows it: its row, and the units it was put on sale with.
type LaunchDisc struct {
	model.Disc
	// Supplied is every unit the disc was given: its create, restock and adjust events, not the units cancels
	// gave back (those orders still count as sold until cancelled, and their units are in the live count).
	// Supplied minus the live count is then the units sold and not cancelled.
	Supplied int64
}

// launchDiscs reads the discs not archived whose sale starts between $1 and $2, and the discs of $3, the
// latter first and then the latest sale start first. Supplied is the running total of stock events less the
// cancels', which only the disc's own cancel events are read for (through the stock_events primary key).
const launchDiscs = `
SELECT ` + discColumns + `,
       d.events_total - COALESCE((SELECT sum(e.delta) FROM stock_events e
                                  WHERE e.disc_id = d.id AND e.reason = 'cancel'), 0)
FROM discs d
WHERE NOT d.archived AND (d.sale_starts_at BETWEEN $1 AND $2 OR d.id = ANY($3))
ORDER BY d.id = ANY($3) DESC, d.sale_starts_at DESC, d.id DESC
LIMIT $4`

// Launches returns at most limit discs on sale or about to be: those whose sale starts between from and to,
// and those of also (discs buyers are ordering, whatever their sale start), archived discs left out.
func (r *Discs) Launches(ctx context.Context, from, to time.Time, also []int64, limit int) ([]LaunchDisc, error) {
	if also == nil {
		also = []int64{} // a NULL array would match nothing either, but say so plainly
	}
	rows, err := r.pool.Query(ctx, launchDiscs, from, to, also, limit)
	if err != nil {
		return nil, translate("discs.launches", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LaunchDisc, error) {
		var l LaunchDisc
		var err error
		l.Disc, err = scanDisc(row, &l.Supplied)
		return l, err
	})
	return out, translate("discs.launches", err)
}
