package push

import (
	"cmp"
	"container/heap"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file holds the broker's view: the live invitations and tombstones
// that the backend's events build on every broker, and the streams they go
// to. Events are applied to it, and requests read it, under the lock of the
// visit's shard; nothing here calls the backend.

const numShards = 64

type shard struct {
	mu        sync.Mutex
	visits    map[string]*visit // visits with live invitations or streams
	visitPeak int
	tombs     endedSet[uint64]  // by endedKey; the value is the seq the invitation had here, 0 if it was never live here
	seq       uint64            // the order of the shard's engages, for Last-Event-ID
	due       dueHeap           // the live invitations, by expiry
	notes     ring[noteDue]     // the kept notify messages, by expiry (notify.go)
	flights   map[string]flight // notify events published here and not yet applied, by event ID (notify.go)
	flying    map[string]int    // their messages, by visitID

	forms endedSet[struct{}] // strict mode: accepted invitations whose form is open, by endedKey (form.go)

	// check holds the visits that may have nothing left, for the sweep:
	// those made, emptied of invitations, or whose streams were dropped
	// since it last ran. drop, which may run with or without mu held,
	// adds to it under cmu alone.
	cmu   sync.Mutex
	check []*visit
	wake  func() // the broker's wakeSweeper
}

// visit is the state of one visitID. It is guarded by its shard's mutex.
type visit struct {
	id    string        // its key in the shard's visits
	invs  []*invitation // live, in engage order
	subs  []*subscriber
	notes []*note    // kept notify messages, in order
	gone  []noteMark // the latest expired ones
}

type invitation struct {
	id, pageID string
	channels   []string
	seq        uint64
	expiresAt  time.Time
	frame      []byte        // the engage event, encoded once
	sentTo     []*subscriber // the streams that have it: they get its cancel
	sent       [2]*subscriber
	answering  bool // an answer is being recorded: the next is a duplicate
	due        int  // its index in the shard's due heap plus one; 0: not in it

	obs observed // what the Observer has been told of it (observe.go)
}

func (b *Broker) shard(visitID string) *shard {
	return &b.shards[maphash.String(b.seed, visitID)%numShards]
}

// visit returns the state of visitID, creating it; the caller holds mu.
func (sh *shard) visit(visitID string) *visit {
	v := sh.visits[visitID]
	if v == nil {
		v = &visit{id: strings.Clone(visitID)} // the ID may pin a whole request
		sh.visits[v.id] = v
		sh.visitPeak = max(sh.visitPeak, len(sh.visits))
		sh.recheck(v) // in case what it was made for does not happen
	}
	return v
}

// recheck has the next sweep forget v if it then has nothing left.
func (sh *shard) recheck(v *visit) {
	sh.cmu.Lock()
	sh.check = append(sh.check, v)
	sh.cmu.Unlock()
	sh.wake()
}

// recheck has the next sweep forget v if it then has neither invitations
// nor open streams.
func (b *Broker) recheck(v *visit) { b.shard(v.id).recheck(v) }

func (v *visit) live(id string) int {
	return slices.IndexFunc(v.invs, func(inv *invitation) bool { return inv.id == id })
}

// tomb returns the tombstone of id in visitID, if it is still kept.
func (sh *shard) tomb(visitID, id string, now time.Time) (seq uint64, ok bool) {
	var buf [256]byte
	return sh.tombs.get(endedKey(buf[:0], visitID, id), now.UnixNano())
}

// addTomb remembers that id of visitID ended, until the given time; seq is
// the order the invitation had here, 0 if it never was live here. The
// caller holds sh.mu.
func (b *Broker) addTomb(sh *shard, visitID, id string, seq uint64, until, now time.Time) {
	var buf [256]byte
	b.tombs.Add(int64(sh.tombs.add(endedKey(buf[:0], visitID, id), until.UnixNano(), seq, b.tombsPerShard, now.UnixNano())))
	b.wakeSweeper()
}

// known reports whether id of visitID is live or ended in the view.
func (b *Broker) known(visitID, id string, now time.Time) bool {
	sh := b.shard(visitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if v := sh.visits[visitID]; v != nil {
		b.expire(sh, visitID, v, now)
		if v.live(id) >= 0 {
			return true
		}
	}
	_, ended := sh.tomb(visitID, id, now)
	return ended
}

// over reports whether the view has seen id of visitID end: expired,
// cancelled or answered, and not accepted with its form still open.
func (b *Broker) over(visitID, id string, now time.Time) bool {
	sh := b.shard(visitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if v := sh.visits[visitID]; v != nil {
		b.expire(sh, visitID, v, now)
	}
	_, ended := sh.tomb(visitID, id, now)
	return ended && !sh.formOpen(visitID, id, now)
}

// apply applies one of the backend's events to the view. It never refuses
// one: room was checked when it was admitted. It is idempotent, as a
// backend may deliver an event twice.
func (b *Broker) apply(ev *Event) {
	switch ev.op {
	case opEngage:
		b.applyEngage(ev)
	case opCancel:
		b.applyEnd(ev.cancel.VisitID, ev.cancel.InteractionID, cmp.Or(ev.cancel.Reason, "cancelled"), ev.at, ev)
	case opAnswer:
		b.applyEnd(ev.answer.VisitID, ev.answer.InteractionID, ev.answer.Result, ev.at, ev)
	case opNotify:
		b.applyNotify(ev)
	}
}

// applyEngage makes an engage live and sends it to the visit's pages,
// unless it is live already, ended, or expired.
func (b *Broker) applyEngage(ev *Event) {
	p := ev.profile
	now := b.now()
	frame := engageFrame(p, ev.expiresAt) // outside the lock
	sh := b.shard(p.VisitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v := sh.visits[p.VisitID]
	if v != nil {
		b.expire(sh, p.VisitID, v, now)
		if v.live(p.InteractionID) >= 0 {
			return
		}
	}
	if _, ended := sh.tomb(p.VisitID, p.InteractionID, now); ended {
		return // cancelled first, answered or expired: drop
	}
	if !now.Before(ev.expiresAt) { // a late delivery: it ended on its way
		b.addTomb(sh, p.VisitID, p.InteractionID, 0, ev.expiresAt.Add(b.tombTTL), now)
		return
	}
	if v == nil {
		v = sh.visit(p.VisitID)
	}
	sh.seq++
	inv := &invitation{seq: sh.seq, expiresAt: ev.expiresAt, frame: frame}
	inv.id, inv.pageID, inv.channels = cloneStrings(p.InteractionID, p.PageID, p.Channels)
	inv.sentTo = inv.sent[:0]
	v.invs = append(v.invs, inv)
	sh.due.push(v, inv)
	b.wakeSweeper()
	b.held(inv)
	for _, s := range v.subs {
		if inv.pageID == "" || inv.pageID == s.pageID {
			inv.sentTo = append(inv.sentTo, s)
			b.enqueue(s, inv.frame)
		}
	}
	b.observeApplied(p.VisitID, inv, ev, now)
}

// cloneStrings copies the strings an invitation keeps into one
// allocation: the event's strings may pin a whole request or message.
func cloneStrings(id, pageID string, channels []string) (string, string, []string) {
	n := len(id) + len(pageID)
	for _, c := range channels {
		n += len(c)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(id)
	b.WriteString(pageID)
	for _, c := range channels {
		b.WriteString(c)
	}
	all := b.String()
	id, all = all[:len(id)], all[len(id):]
	pageID, all = all[:len(pageID)], all[len(pageID):]
	out := make([]string, len(channels))
	for i, c := range channels {
		out[i], all = all[:len(c)], all[len(c):]
	}
	return id, pageID, out
}

// applyEnd ends id of visitID, a cancel or an answer (ev) made at the
// given time: the pages that had it are told, with reason, and a tombstone
// remembers it for TombstoneTTL from then (from now at the latest, so that
// a clock ahead cannot keep it longer).
func (b *Broker) applyEnd(visitID, id, reason string, at time.Time, ev *Event) {
	now := b.now()
	until := minTime(at, now).Add(b.tombTTL)
	sh := b.shard(visitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b.noteForm(sh, visitID, id, ev, at, now)
	if v := sh.visits[visitID]; v != nil {
		b.expire(sh, visitID, v, now)
		if i := v.live(id); i >= 0 {
			b.end(sh, visitID, v, i, reason, ev, until, now)
			return
		}
	}
	b.addTomb(sh, visitID, id, 0, until, now)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// end removes v's live invitation i, tells the pages that had it, and
// leaves its tombstone. ev is the cancel or answer that ends it, nil when
// it expired. The caller holds sh.mu.
func (b *Broker) end(sh *shard, visitID string, v *visit, i int, reason string, ev *Event, until, now time.Time) {
	inv := v.invs[i]
	b.observeEnd(visitID, inv, ev)
	if b.reporter != nil {
		b.queueOutcome(outcomeOf(visitID, inv, ev), recordOutcome, strconv.FormatInt(inv.obs.at.UnixNano(), 36))
	}
	v.invs = slices.Delete(v.invs, i, i+1)
	sh.due.remove(inv)
	if len(v.invs) == 0 {
		sh.recheck(v)
	}
	b.freed(inv)
	if len(inv.sentTo) > 0 {
		frame := cancelFrame(inv.id, reason)
		for _, s := range inv.sentTo {
			b.enqueue(s, frame)
		}
	}
	b.addTomb(sh, visitID, inv.id, inv.seq, until, now)
}

// expire ends v's invitations that are past their time. The caller holds
// sh.mu.
func (b *Broker) expire(sh *shard, visitID string, v *visit, now time.Time) {
	for i := 0; i < len(v.invs); {
		if inv := v.invs[i]; !now.Before(inv.expiresAt) {
			b.end(sh, visitID, v, i, "expired", nil, inv.expiresAt.Add(b.tombTTL), now)
			continue
		}
		i++
	}
}

// pruneDead forgets v's closed streams, in its list and in its
// invitations'. The caller holds the shard's mutex.
func pruneDead(v *visit) {
	n := len(v.subs)
	v.subs = slices.DeleteFunc(v.subs, (*subscriber).isDead)
	if len(v.subs) == n {
		return
	}
	for _, inv := range v.invs {
		inv.sentTo = slices.DeleteFunc(inv.sentTo, (*subscriber).isDead)
	}
}

// sweep is what the broker's sweeper does when something is due: it ends
// the invitations whose time has come, forgets tombstones past their TTL,
// forms that ran out and visits with nothing left, and gives back the
// memory a flood of them took. A [MemoryBackend] is swept too. Its work is
// what has come due, or changed, since it last ran: it walks neither the
// visits nor the streams. It returns when the next thing comes due, zero
// when nothing is left that will; tests with an injected clock call it.
func (b *Broker) sweep() time.Time {
	now := b.now()
	var next int64 // Unix nanoseconds, 0 for never
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		for len(sh.due) > 0 && !now.Before(sh.due[0].inv.expiresAt) {
			e := heap.Pop(&sh.due).(dueEntry)
			b.expire(sh, e.v.id, e.v, now) // and v's other invitations due
		}
		b.expireNotes(sh, now)
		sh.cmu.Lock()
		check := sh.check
		sh.check = nil
		sh.cmu.Unlock()
		for _, v := range check {
			pruneDead(v)
			if len(v.invs) == 0 && len(v.subs) == 0 && len(v.notes) == 0 && sh.visits[v.id] == v {
				delete(sh.visits, v.id)
			}
		}
		sh.visits, sh.visitPeak = compact(sh.visits, sh.visitPeak)
		b.tombs.Add(-int64(sh.tombs.expire(now.UnixNano())))
		sh.forms.expire(now.UnixNano())
		if len(sh.due) > 0 {
			next = sooner(next, sh.due[0].inv.expiresAt.UnixNano())
		}
		if sh.notes.len() > 0 {
			next = sooner(next, sh.notes.peek().n.expiresAt.UnixNano())
		}
		next = sooner(sooner(next, sh.tombs.next()), sh.forms.next())
		for _, f := range sh.flights { // notifies published here, not yet arrived
			next = sooner(next, f.until.UnixNano())
		}
		sh.mu.Unlock()
	}
	if s, ok := b.backend.(sweeper); ok {
		next = sooner(next, s.sweep())
	}
	if next == 0 {
		return time.Time{}
	}
	return time.Unix(0, next)
}
