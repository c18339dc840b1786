package redis

import "context"

// ReserveBatch runs rs, all of one partition, as one reserve.lua call, as the batcher would send them had they
// arrived while an earlier batch was out, and reads each one's answer as Reserve does.
func ReserveBatch(ctx context.Context, g *Gate, rs []Reservation) ([]ReserveResult, error) {
	answers, stream, at, acked, err := g.reserveBatch(ctx, g.keys.Partition(rs[0].Order.DiscID), rs)
	if err != nil {
		return nil, err
	}
	out := make([]ReserveResult, len(rs))
	for i, r := range rs {
		if out[i], err = readReserve(r, batchAnswer{ans: answers[i], stream: stream, at: at, acked: acked}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Queued is how many reservations of disc's partition wait in the batcher for the batch that is out.
func Queued(g *Gate, disc int64) int {
	b := g.batches
	b.mu.Lock()
	defer b.mu.Unlock()
	if pb := b.parts[g.keys.Partition(disc)]; pb != nil {
		return len(pb.queue)
	}
	return 0
}
