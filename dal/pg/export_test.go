package pg

// SetTotalsChunk makes the totals backfill fill n discs per transaction, so that a test with a few hundred
// discs runs it in many transactions; it returns the function that restores the size.
func SetTotalsChunk(n int) (restore func()) {
	old := totalsChunk
	totalsChunk = n
	return func() { totalsChunk = old }
}
