package push

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// beatSlots is how many slots the heartbeat wheel has.
const beatSlots = 16

// beats is the heartbeat wheel: one ticker, every Heartbeat/beatSlots,
// sends the heartbeats of one slot, and a stream joins the slot whose turn
// is furthest away. Each stream thus gets a heartbeat once per Heartbeat,
// without a timer of its own, and the heartbeats of many streams are
// spread over the interval rather than sent at once; no tick touches more
// than its slot. The ticker stops at a turn that finds the wheel empty,
// and the next stream added starts it again: a broker without streams
// does not wake for them.
type beats struct {
	mu     sync.Mutex
	slots  [beatSlots][]*subscriber
	next   int           // the slot of the next turn
	n      int           // the streams in the wheel
	asleep bool          // the ticker is stopped; add wakes it through wake
	wake   chan struct{} // made by NewBroker, with room for one

	// The ticker's own: when the wheel started, each turn's length, how
	// many turns it made, and a turn's copy of its slot.
	start  time.Time
	turn   time.Duration
	turned int64
	batch  []*subscriber
	ticks  atomic.Int64 // the ticks it took, for tests
}

// add puts s in the wheel, and wakes the ticker if it sleeps. The caller
// holds s.mu.
func (w *beats) add(s *subscriber) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := (w.next + beatSlots - 1) % beatSlots // the turn furthest away
	w.slots[i] = append(w.slots[i], s)
	s.beatSlot, s.beatPos = uint8(i), int32(len(w.slots[i]))
	w.n++
	if w.asleep {
		w.asleep = false
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// remove takes s out of the wheel, if it is in it.
func (w *beats) remove(s *subscriber) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.beatPos == 0 {
		return
	}
	slot := w.slots[s.beatSlot]
	i, last := int(s.beatPos)-1, len(slot)-1
	slot[i] = slot[last]
	slot[i].beatPos = int32(i + 1)
	slot[last] = nil
	slot = slot[:last]
	if cap(slot) > 64 && len(slot) <= cap(slot)/4 { // give a flood's memory back
		slot = slices.Clone(slot)
	}
	w.slots[s.beatSlot] = slot
	s.beatPos = 0
	w.n--
}

// startBeats sets the wheel to turn every turn from now.
func (w *beats) startBeats(turn time.Duration) { w.start, w.turn = time.Now(), turn }

// resume counts the turns the wheel slept through as made: a stream added
// to a sleeping wheel gets its first heartbeat a whole Heartbeat after it
// joined, not at once.
func (w *beats) resume() { w.turned = int64(time.Since(w.start) / w.turn) }

// beat turns the wheel as many times as are due, at most once around,
// and sends the heartbeats of the slots it turns past: a ticker drops the
// ticks its goroutine was too busy to take, and heartbeats must not come
// less often for it. It reports whether the wheel is empty, and then
// asleep: the ticker is to stop until add wakes it. It runs on the
// broker's maintenance goroutine.
func (b *Broker) beat() (asleep bool) {
	w := &b.beats
	w.ticks.Add(1)
	due := int64(time.Since(w.start) / w.turn)
	turns := min(due-w.turned, beatSlots)
	w.turned = due
	for range turns {
		w.mu.Lock()
		w.batch = append(w.batch[:0], w.slots[w.next]...)
		w.next = (w.next + 1) % beatSlots
		w.mu.Unlock()
		for _, s := range w.batch {
			b.sendHeartbeat(s)
		}
		clear(w.batch)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.asleep = w.n == 0
	return w.asleep
}

// sendHeartbeat sends s its heartbeat comment, unless a write is under way
// (the stream is not idle). The socket of a plain hijacked stream is
// written at once, without waiting: an idle stream's socket buffer has
// room. Elsewhere, or when it has not, a writer goroutine sends it, as it
// sends events.
//
// A TLS stream's heartbeat always takes a goroutine, for the one write:
// only its tls.Conn can encrypt a record (the keys and the record's
// sequence number are its own, so nothing can be encrypted ahead or
// beside it), and its Write waits for the socket, while crypto/tls makes
// any failed or timed-out write final, so a short deadline would end a
// healthy stream whose client reads slowly. Written here, one such client
// would stop the wheel for WriteTimeout.
func (b *Broker) sendHeartbeat(s *subscriber) {
	s.mu.Lock()
	if s.dead || s.ending || s.writing {
		s.mu.Unlock()
		return
	}
	s.writing = true
	var rc rawWriter
	if c := s.sink.conn(); c != nil {
		rc = directWriter(c)
	}
	n := 0
	if rc != nil {
		s.mu.Unlock()
		var err error
		n, err = writeNow(rc, heartbeat)
		if err != nil {
			b.drop(s)
			s.mu.Lock()
			s.writing = false
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
	}
	if !s.dead && n < len(heartbeat) { // what is left goes before what was queued meanwhile
		s.queue = slices.Insert(s.queue, 0, heartbeat[n:])
	}
	if !s.dead && len(s.queue) > 0 {
		b.wg.Add(1)
		go b.write(s)
	} else {
		s.writing = false
	}
	s.mu.Unlock()
}
