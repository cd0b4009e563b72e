package push

import (
	"context"
	"encoding/binary"
	"errors"
	"time"
)

// Bounds of the records of [Backend.Load] and [Backend.Store].
const (
	// MaxRecordKeyBytes is the longest key of a record: a broker's keys
	// name a visit and an interaction, at most 64 bytes each.
	MaxRecordKeyBytes = 192
	// MaxRecordBytes is the largest record. A broker's records are a few
	// dozen bytes: the state of a visit's offer gating, an outcome's
	// election.
	MaxRecordBytes = 1 << 10
)

// DefaultMaxRecords is the default of [MemoryOptions.MaxRecords].
const DefaultMaxRecords = 100_000

// ErrRecordTooLarge is what a Backend's Store returns, wrapped or not, for
// a key over [MaxRecordKeyBytes] or data over [MaxRecordBytes].
var ErrRecordTooLarge = errors.New("push: record key or data too large")

// CheckRecord returns [ErrRecordTooLarge] when key or data is over its
// bound, for Backends to call at the start of Store.
func CheckRecord(key string, data []byte) error {
	if len(key) > MaxRecordKeyBytes || len(data) > MaxRecordBytes {
		return ErrRecordTooLarge
	}
	return nil
}

// IsElection reports whether key is one of a broker's outcome elections
// (see [Options].OnOutcome): a record created once, never read after its
// election, and kept only so that a broker that applies an end late does
// not report its outcome again. A broker's other records are its visits'
// offer-gating state ([Gate]), which decides what visitors are offered. A
// Backend that forgets its oldest records past a bound can keep elections
// apart from them, so that a burst of outcomes does not push gating state
// out (natsfanout keeps them in a bucket of their own).
func IsElection(key string) bool {
	return key != "" && (key[0] == recordOutcome || key[0] == recordSuppressed)
}

// recordKey is the key of one of the broker's records: a kind, then each
// part with its length first, so that no two lists of parts share a key,
// whatever bytes they hold.
func recordKey(kind byte, parts ...string) string {
	b := make([]byte, 0, 2+len(parts)*66)
	b = append(b, kind)
	for _, p := range parts {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	return string(b)
}

// Kinds of the broker's records.
const (
	recordVisit      = 'v' // a visit's offer-gating state (gate.go)
	recordOutcome    = 'o' // the election of the broker that reports an invitation's end (outcomes.go)
	recordSuppressed = 's' // the election of the broker that reports a suppressed engage
)

// memRecord is a record of a [MemoryBackend].
type memRecord struct {
	data  []byte
	rev   uint64
	until int64 // Unix nanoseconds
}

// recordSweepEvery is how often, at most, a shard's aged-out records are
// looked for by the broker's sweep: records are bounded by MaxRecords, so
// freeing them sooner buys memory only under that bound, and the sweep
// must not walk them every second.
const recordSweepEvery = time.Minute

// Load implements [Backend.Load].
func (m *MemoryBackend) Load(_ context.Context, key string) ([]byte, uint64, error) {
	now := m.now()
	sh := m.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, ok := sh.records[key]
	if !ok || r.until <= now {
		return nil, 0, nil
	}
	return append([]byte{}, r.data...), r.rev, nil // not nil: a record of no bytes is a record
}

// Store implements [Backend.Store]. At the shard's part of MaxRecords it
// forgets the record closest to its end first, found by a walk of the
// shard's records, which happens only at the bound.
func (m *MemoryBackend) Store(_ context.Context, key string, data []byte, rev uint64, ttl time.Duration) (bool, error) {
	if err := CheckRecord(key, data); err != nil {
		return false, err
	}
	now := m.now()
	sh := m.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, ok := sh.records[key]
	if ok && r.until <= now {
		r = memRecord{}
	}
	if r.rev != rev {
		return false, nil
	}
	if !ok {
		if len(sh.records) >= m.maxRecords {
			sh.forgetRecord(now)
		}
		if sh.records == nil {
			sh.records = make(map[string]memRecord)
		}
		sh.recordPeak = max(sh.recordPeak, len(sh.records)+1)
	}
	sh.recordRev++
	sh.records[key] = memRecord{data: append([]byte(nil), data...), rev: sh.recordRev, until: now + int64(ttl)}
	return true, nil
}

// forgetRecord makes room for one record: it deletes the records aged out
// by now or, if none has, the one closest to its end. The caller holds
// sh.mu.
func (sh *memShard) forgetRecord(now int64) {
	oldest, until, freed := "", int64(0), false
	for k, r := range sh.records {
		switch {
		case r.until <= now:
			delete(sh.records, k)
			freed = true
		case until == 0 || r.until < until:
			oldest, until = k, r.until
		}
	}
	if !freed {
		delete(sh.records, oldest)
	}
}

// sweepRecords frees sh's records that aged out by now, at most once every
// recordSweepEvery, and rebuilds the map if a flood left it mostly empty.
// The caller holds sh.mu.
func (sh *memShard) sweepRecords(now int64) {
	if now < sh.recordSweep || len(sh.records) == 0 {
		return
	}
	sh.recordSweep = now + int64(recordSweepEvery)
	for k, r := range sh.records {
		if r.until <= now {
			delete(sh.records, k)
		}
	}
	sh.records, sh.recordPeak = compact(sh.records, sh.recordPeak)
}
