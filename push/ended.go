package push

// This file holds the bounded memory of ended interactionIDs that both the
// broker's view (its tombstones) and the memory backend (its ended
// records) keep: a map for lookups and a queue in the order entries were
// added, so that the oldest go first when they age out or when the set is
// full. Neither ever refuses an entry, and both give memory back after a
// flood: Go maps never shrink, so a map that has emptied is rebuilt.

// endedKey is the key of (visitID, interactionID): the two joined by a NUL,
// which neither may contain, in one string so that an entry costs one
// allocation.
func endedKey(buf []byte, visitID, interactionID string) []byte {
	buf = append(buf, visitID...)
	buf = append(buf, 0)
	return append(buf, interactionID...)
}

// endedSet remembers keys until a time, each with a value, at most a limit
// of them. It is not safe for concurrent use: its owner locks it.
type endedSet[V any] struct {
	m     map[string]endedEntry[V]
	order ring[endedRef] // the entries of m, oldest first, and stale refs
	peak  int            // the most entries m held since it was made
}

type endedEntry[V any] struct {
	until int64 // Unix nanoseconds
	v     V
}

// endedRef is a place in the queue. A ref whose until is not its entry's
// is stale: the entry aged out and was added again, with a ref of its own
// further back.
type endedRef struct {
	key   string // shares the map key's bytes
	until int64
}

// get returns key's value if the set holds it and it has not aged out by
// now.
func (s *endedSet[V]) get(key []byte, now int64) (V, bool) {
	e, ok := s.m[string(key)] // no allocation for the lookup
	if !ok || e.until <= now {
		var zero V
		return zero, false
	}
	return e.v, true
}

// holds reports whether the set holds key, aged out or not.
func (s *endedSet[V]) holds(key []byte) bool {
	_, ok := s.m[string(key)]
	return ok
}

// add records key until the given time, unless the set holds it and it
// has not aged out by now: an entry's time never moves while it lives. At
// limit, it first forgets the oldest entry. It reports how many entries
// the set gained: 1, or 0 (held already, renewed, or one evicted for it).
func (s *endedSet[V]) add(key []byte, until int64, v V, limit int, now int64) (gained int) {
	if e, ok := s.m[string(key)]; ok {
		if e.until > now {
			return 0
		}
		// Aged out, not yet forgotten: it starts again at the back, and
		// its old ref goes stale.
		k := string(key)
		s.m[k] = endedEntry[V]{until: until, v: v}
		s.order.push(endedRef{k, until})
		return 0
	}
	if s.m == nil {
		s.m = make(map[string]endedEntry[V])
	}
	gained = 1
	for len(s.m) >= limit && s.order.len() > 0 {
		if s.forget(s.order.pop()) {
			gained--
		}
	}
	k := string(key)
	s.m[k] = endedEntry[V]{until: until, v: v}
	s.order.push(endedRef{k, until})
	s.peak = max(s.peak, len(s.m))
	return gained
}

// remove deletes key's entry, if the set holds it. Its place in the queue
// goes stale, and is dropped when it comes up.
func (s *endedSet[V]) remove(key []byte) {
	delete(s.m, string(key))
}

// forget deletes the entry r refers to, unless r is stale, and reports
// whether it did.
func (s *endedSet[V]) forget(r endedRef) bool {
	if e, ok := s.m[r.key]; ok && e.until == r.until {
		delete(s.m, r.key)
		return true
	}
	return false
}

// expire forgets the entries that aged out by now, from the oldest, and
// returns how many. An entry added after one that lives longer waits for
// it: the queue is in the order of adding, and entries' lifetimes differ
// only by the spread of their times; get never returns one that aged out.
func (s *endedSet[V]) expire(now int64) (removed int) {
	for s.order.len() > 0 && s.order.peek().until <= now {
		if s.forget(s.order.pop()) {
			removed++
		}
	}
	s.m, s.peak = compact(s.m, s.peak)
	return removed
}

func (s *endedSet[V]) len() int { return len(s.m) }

// next returns when expire next has something to do, in Unix nanoseconds,
// or 0 when the set is empty.
func (s *endedSet[V]) next() int64 {
	if s.order.len() == 0 {
		return 0
	}
	return s.order.peek().until
}

// sooner returns the earlier of two times in Unix nanoseconds, where 0 is
// never.
func sooner(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// shrunk reports whether a map that held peak entries and now holds n has
// emptied enough to be rebuilt: its buckets stay allocated otherwise. A
// rebuild of n entries follows at least 3n deletions, so it costs O(1) per
// deletion.
func shrunk(n, peak int) bool { return peak >= 64 && n <= peak/4 }

// compact returns m rebuilt at its size, and that size as its new peak,
// when it has shrunk from peak; else m and peak.
func compact[K comparable, V any](m map[K]V, peak int) (map[K]V, int) {
	if !shrunk(len(m), peak) {
		return m, peak
	}
	c := make(map[K]V, len(m)) // not maps.Clone, which may keep m's size
	for k, v := range m {
		c[k] = v
	}
	return c, len(c)
}

// ring is a FIFO queue in a circular buffer that grows by doubling and
// halves when it is three-quarters empty.
type ring[T any] struct {
	buf        []T // len(buf) is zero or a power of two
	head, size int
}

func (r *ring[T]) len() int { return r.size }

func (r *ring[T]) push(v T) {
	if r.size == len(r.buf) {
		r.resize(max(16, 2*len(r.buf)))
	}
	r.buf[(r.head+r.size)&(len(r.buf)-1)] = v
	r.size++
}

// peek returns the oldest element; the ring must not be empty.
func (r *ring[T]) peek() T { return r.buf[r.head] }

// pop removes and returns the oldest element; the ring must not be empty.
func (r *ring[T]) pop() T {
	var zero T
	v := r.buf[r.head]
	r.buf[r.head] = zero // let it be collected
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.size--
	if len(r.buf) > 64 && r.size <= len(r.buf)/4 {
		r.resize(len(r.buf) / 2)
	}
	return v
}

func (r *ring[T]) resize(n int) {
	buf := make([]T, n)
	for i := range r.size {
		buf[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
	}
	r.buf, r.head = buf, 0
}
