package push

import (
	"cmp"
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryOptions configures a [MemoryBackend]. The zero value, and a nil
// *MemoryOptions, give the defaults each field names.
type MemoryOptions struct {
	// MaxEnded bounds the ended interactionIDs remembered (see
	// [Backend.End]). At the bound the oldest record is forgotten to make
	// room: End never fails. The bound is split evenly among 64 shards by
	// visitID, so one visit, or the visits of one shard, hold at most
	// MaxEnded/64 of them. Zero means 200,000.
	MaxEnded int
	// MaxRecords bounds the records of [Backend.Store]. At the bound the
	// record closest to its end is forgotten to make room: Store never
	// fails. The bound is split evenly among 64 shards by key. Each
	// record takes its data (at most [MaxRecordBytes], a few dozen bytes
	// for the broker's) and some 100 bytes. Zero means
	// [DefaultMaxRecords], 100,000.
	MaxRecords int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// DefaultMaxEnded is the default of [MemoryOptions.MaxEnded] and of
// [Options.MaxTombstones].
const DefaultMaxEnded = 200_000

// MemoryBackend is the [Backend] of brokers in one process: the default of
// [Options.Backend]. Several brokers may share one, as the tests of
// package push/pushtest do; brokers in other processes cannot.
//
// It keeps no log: Publish hands the event to every listening broker
// before it returns, in the publisher's goroutine, so a broker sees its own
// engage applied when Engage returns and delivery costs no hop. Events of
// one visit are delivered in the order they were published, one at a time;
// events of different visits are delivered concurrently, as the backend is
// split into 64 shards by visitID, each with its own locks. A broker
// registers with a MemoryBackend before [NewBroker] returns, so it misses
// nothing published after; a listener that calls Listen itself starts with
// the events published once Listen has begun.
//
// Claims and records lapse at their ttl exactly, by the backend's clock.
// Ended records are bounded by MaxEnded and records by MaxRecords (see
// [MemoryOptions]). Ended records and claims that aged out are freed by
// the next call in their shard and by the broker's sweep; records, when
// their key is stored again, at the bound, and by the broker's sweep at
// most once a minute, without keeping it awake. The maps that held a
// flood of them are rebuilt once they have emptied, so memory goes back
// down. Ping always reports nil.
//
// A MemoryBackend is safe for concurrent use. It starts no goroutine and
// needs no closing.
type MemoryBackend struct {
	now         func() int64 // Unix nanoseconds
	maxPerShard int
	maxRecords  int // per shard
	seed        maphash.Seed
	shards      [numShards]memShard

	lmu       sync.Mutex                     // serialises changes to listeners
	listeners atomic.Pointer[[]*memListener] // copied on change; Publish reads it unlocked
}

type memShard struct {
	mu        sync.Mutex // claims and ended
	claims    map[string]memClaim
	claimPeak int
	ended     endedSet[struct{}]

	records     map[string]memRecord // record.go
	recordPeak  int
	recordRev   uint64 // the last revision given in the shard
	recordSweep int64  // when sweepRecords may walk the records next

	// pub orders the delivery of the shard's events: one visit's events
	// reach each listener one at a time, in publish order.
	pub sync.Mutex
}

type memClaim struct {
	holder string // "" once released
	until  int64  // Unix nanoseconds
}

type memListener struct{ deliver func(*Event) }

var _ Backend = (*MemoryBackend)(nil)

// NewMemoryBackend returns an empty MemoryBackend; nil opts means the
// defaults. It panics if MaxEnded or MaxRecords is negative.
func NewMemoryBackend(opts *MemoryOptions) *MemoryBackend {
	if opts == nil {
		opts = &MemoryOptions{}
	}
	if opts.MaxEnded < 0 || opts.MaxRecords < 0 {
		panic("push: MemoryOptions.MaxEnded and MaxRecords must not be negative")
	}
	m := &MemoryBackend{
		maxPerShard: perShard(cmp.Or(opts.MaxEnded, DefaultMaxEnded)),
		maxRecords:  perShard(cmp.Or(opts.MaxRecords, DefaultMaxRecords)),
		seed:        maphash.MakeSeed(),
	}
	if now := opts.Now; now != nil {
		m.now = func() int64 { return now().UnixNano() }
	} else {
		// Claims and records need only a reading that moves as time does:
		// the monotonic clock costs one read where time.Now costs two.
		start := time.Now()
		m.now = func() int64 { return start.UnixNano() + int64(time.Since(start)) }
	}
	for i := range m.shards {
		m.shards[i].claims = make(map[string]memClaim)
	}
	m.listeners.Store(new([]*memListener))
	return m
}

// perShard is a shard's part of a bound split among numShards shards,
// at least one.
func perShard(total int) int { return max(1, (total+numShards-1)/numShards) }

func (m *MemoryBackend) shard(visitID string) *memShard {
	return &m.shards[maphash.String(m.seed, visitID)%numShards]
}

// Claim implements [Backend.Claim]. A claim its holder takes again gets
// the new ttl.
func (m *MemoryBackend) Claim(_ context.Context, visitID, interactionID string, ttl time.Duration) (string, error) {
	now := m.now()
	sh := m.shard(visitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.claim(visitID, interactionID, ttl, now), nil
}

// claim is Claim in sh; the caller holds sh.mu.
func (sh *memShard) claim(visitID, interactionID string, ttl time.Duration, now int64) (holder string) {
	c, ok := sh.claims[visitID]
	if ok && c.holder != interactionID && c.holder != "" && c.until > now {
		return c.holder
	}
	if !ok {
		visitID = strings.Clone(visitID) // the caller's string may pin a request
		sh.claimPeak = max(sh.claimPeak, len(sh.claims)+1)
	}
	if c.holder != interactionID {
		c.holder = strings.Clone(interactionID)
	}
	c.until = now + int64(ttl)
	sh.claims[visitID] = c
	return c.holder
}

// Release implements [Backend.Release].
func (m *MemoryBackend) Release(_ context.Context, visitID, interactionID string) error {
	sh := m.shard(visitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c, ok := sh.claims[visitID]; ok && c.holder == interactionID {
		// A free entry, not a deletion: the visit's next claim reuses it,
		// and the sweep removes it.
		sh.claims[visitID] = memClaim{}
	}
	return nil
}

// End implements [Backend.End]. At the shard's part of MaxEnded it forgets
// the shard's oldest record first. Recording an ID again keeps its first
// time.
func (m *MemoryBackend) End(_ context.Context, visitID, interactionID string, ttl time.Duration) error {
	now := m.now()
	var buf [256]byte
	key := endedKey(buf[:0], visitID, interactionID)
	sh := m.shard(visitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.ended.expire(now)
	sh.ended.add(key, now+int64(ttl), struct{}{}, m.maxPerShard, now)
	return nil
}

// Ended implements [Backend.Ended].
func (m *MemoryBackend) Ended(_ context.Context, visitID, interactionID string) (bool, error) {
	var buf [256]byte
	key := endedKey(buf[:0], visitID, interactionID)
	sh := m.shard(visitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return m.hasEnded(sh, key), nil
}

// hasEnded is Ended for key (see endedKey) in sh; the caller holds sh.mu.
func (m *MemoryBackend) hasEnded(sh *memShard, key []byte) bool {
	if !sh.ended.holds(key) {
		return false // the usual answer, without reading the clock
	}
	_, ok := sh.ended.get(key, m.now())
	return ok
}

// Publish implements [Backend.Publish]: it calls every listener's deliver
// with ev before it returns.
func (m *MemoryBackend) Publish(_ context.Context, ev *Event) error {
	m.publish(m.shard(ev.VisitID()), ev)
	return nil
}

// publish delivers ev, of a visit of sh, to every listener.
func (m *MemoryBackend) publish(sh *memShard, ev *Event) {
	sh.pub.Lock()
	defer sh.pub.Unlock()
	for _, l := range *m.listeners.Load() {
		l.deliver(ev)
	}
}

// Listen implements [Backend.Listen]: it delivers the events published
// from when it has begun until ctx is done.
func (m *MemoryBackend) Listen(ctx context.Context, deliver func(*Event)) error {
	unregister := m.register(deliver)
	defer unregister()
	<-ctx.Done()
	return ctx.Err()
}

// register adds a listener at once; the broker uses it instead of Listen
// so that it misses nothing published after NewBroker returns.
func (m *MemoryBackend) register(deliver func(*Event)) (unregister func()) {
	l := &memListener{deliver: deliver}
	m.lmu.Lock()
	defer m.lmu.Unlock()
	list := append(append([]*memListener(nil), *m.listeners.Load()...), l)
	m.listeners.Store(&list)
	return func() {
		m.lmu.Lock()
		defer m.lmu.Unlock()
		var kept []*memListener
		for _, o := range *m.listeners.Load() {
			if o != l {
				kept = append(kept, o)
			}
		}
		m.listeners.Store(&kept)
	}
}

// Ping implements [Backend.Ping]: a MemoryBackend is always reachable.
func (m *MemoryBackend) Ping(context.Context) error { return nil }

// sweep frees the records and claims that aged out, and rebuilds the maps
// that a flood left mostly empty; the broker's sweep calls it. It returns
// when the next record or claim ages out, in Unix nanoseconds by its
// clock, or 0 when none is left.
func (m *MemoryBackend) sweep() (next int64) {
	now := m.now()
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		sh.ended.expire(now)
		sh.sweepRecords(now)
		next = sooner(next, sh.ended.next())
		for v, c := range sh.claims {
			if c.until <= now {
				delete(sh.claims, v)
			} else {
				next = sooner(next, c.until)
			}
		}
		sh.claims, sh.claimPeak = compact(sh.claims, sh.claimPeak)
		sh.mu.Unlock()
	}
	return next
}

// endedLen returns how many ended records the backend holds, for tests.
func (m *MemoryBackend) endedLen() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += sh.ended.len()
		sh.mu.Unlock()
	}
	return n
}
