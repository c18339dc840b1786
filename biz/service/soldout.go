package service

import (
	"sync"
	"time"
)

// soldOut remembers, in one process, the discs Redis last answered sold out with no unit left, so that the
// storm of orders that follows a sell-out is refused without a Redis round trip. A mark lasts hold: a restock,
// cancel or adjust made through this process clears it at once (the relay tells it), one made through another
// process or replica is seen at most hold later, when the next order asks Redis again. No message between
// processes is needed, and a disc that sells out again is marked again by its next refusal.
type soldOut struct {
	hold time.Duration // 0: off
	now  func() time.Time

	mu    sync.RWMutex
	until map[int64]time.Time
}

func newSoldOut(hold time.Duration) *soldOut {
	return &soldOut{hold: hold, now: time.Now, until: map[int64]time.Time{}}
}

// is reports whether disc is marked sold out now.
func (s *soldOut) is(disc int64) bool {
	if s.hold <= 0 {
		return false
	}
	s.mu.RLock()
	until, ok := s.until[disc]
	s.mu.RUnlock()
	return ok && s.now().Before(until)
}

// mark records that Redis just answered disc sold out with nothing left.
func (s *soldOut) mark(disc int64) {
	if s.hold <= 0 {
		return
	}
	s.mu.Lock()
	s.until[disc] = s.now().Add(s.hold)
	s.mu.Unlock()
}

// clear forgets disc's mark: units came back through this process.
func (s *soldOut) clear(disc int64) {
	s.mu.Lock()
	delete(s.until, disc)
	s.mu.Unlock()
}
