package service

import "sync"

// customerSet is the positive cache of customer ids the order path knows exist: a bitset indexed by id
// (ids come from an identity sequence, so a million customers cost 125 KB). Customers are never deleted, so
// an id once in the set stays true.
type customerSet struct {
	mu   sync.RWMutex
	bits []uint64
}

func (s *customerSet) has(id int64) bool {
	if id <= 0 {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	w := int(id >> 6)
	return w < len(s.bits) && s.bits[w]&(1<<(uint(id)&63)) != 0
}

func (s *customerSet) add(id int64) {
	if id <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w := int(id >> 6)
	if w >= len(s.bits) {
		s.bits = append(s.bits, make([]uint64, w+1-len(s.bits)+len(s.bits)/4)...)
	}
	s.bits[w] |= 1 << (uint(id) & 63)
}
