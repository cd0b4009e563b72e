package push

import (
	"log/slog"
	"sync"
)

// subscriber is one open stream. Its state is guarded by mu, but for the
// places it has in the heartbeat wheel (beats.mu) and in the poller's
// table (poller.mu); which invitations it has is kept on each invitation
// (sentTo), under the shard's mutex.
type subscriber struct {
	pageID string
	client string // the key it counts against in clientStreams
	visit  *visit // set once; the sweep forgets it there once it is dropped

	mu      sync.Mutex
	queue   [][]byte // frames waiting for the writer
	writing bool     // a writer goroutine, or a heartbeat, is writing
	dead    bool     // dropped: nothing more is written
	ending  bool     // its last frame is queued: dropped once it is written
	strayN  uint8    // reads of what its client sent after its request
	stray   uint16   // bytes its client sent after its request
	sink    sink

	// Under beats.mu: its place in the heartbeat wheel; under poller.mu:
	// its descriptor. Each is one more than the value, so that 0 means
	// none.
	beatSlot uint8
	beatPos  int32
	fd       int32
}

// enqueue queues frame for s without blocking and starts a writer if none
// is running: idle streams have no goroutine. A subscriber whose queue is
// full, a browser that does not keep up, is dropped.
func (b *Broker) enqueue(s *subscriber, frame []byte) {
	s.mu.Lock()
	if s.dead || s.ending {
		s.mu.Unlock()
		return
	}
	if len(s.queue) >= b.queue {
		s.mu.Unlock()
		b.log(slog.LevelWarn, "push: slow subscriber disconnected")
		b.drop(s)
		return
	}
	s.queue = append(s.queue, frame)
	if !s.writing {
		s.writing = true
		b.wg.Add(1)
		go b.write(s)
	}
	s.mu.Unlock()
}

// closeWith queues frame as s's last: nothing is queued after it, and s
// is dropped once it is written, or at once when its queue is full.
func (b *Broker) closeWith(s *subscriber, frame []byte) {
	s.mu.Lock()
	if s.dead || s.ending {
		s.mu.Unlock()
		return
	}
	if len(s.queue) >= b.queue {
		s.mu.Unlock()
		b.drop(s)
		return
	}
	s.queue = append(s.queue, frame)
	s.ending = true
	if !s.writing {
		s.writing = true
		b.wg.Add(1)
		go b.write(s)
	}
	s.mu.Unlock()
}

// write drains s's queue to its stream, then exits. A write that fails or
// stalls past WriteTimeout drops the subscriber.
func (b *Broker) write(s *subscriber) {
	defer b.wg.Done()
	var spare [][]byte
	for {
		s.mu.Lock()
		if s.dead || len(s.queue) == 0 {
			s.writing = false
			end := s.ending && !s.dead
			s.mu.Unlock()
			if end {
				b.drop(s)
			}
			return
		}
		batch := s.queue
		s.queue = spare[:0]
		s.mu.Unlock()
		if err := s.sink.write(batch, b.writeTimeout); err != nil {
			b.drop(s)
			continue // the loop sees dead and exits
		}
		clear(batch)
		spare = batch
	}
}

// drop ends s: nothing more is written, its stream is closed, and it stops
// counting against the limits. Its invitations stay pending for its
// reconnect; the next sweep forgets it in its visit. drop must not be
// called with s.mu held; it may be called with the shard lock held.
func (b *Broker) drop(s *subscriber) {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	s.dead = true
	s.queue = nil
	sk := s.sink
	s.mu.Unlock()
	b.unwatch(s) // before its descriptor is closed and reused
	b.beats.remove(s)
	if sk != nil { // else release closes it
		sk.close()
	}
	b.subs.Add(-1)
	b.clients.release(s.client)
	b.observeStream(false)
	b.recheck(s.visit)
}

func (s *subscriber) isDead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
}

// A stream's client has nothing to send after its request: EventSource
// sends nothing, and the poller reads and discards whatever comes (a TLS
// close_notify, a stray newline) so that the end of the connection is seen
// at once. A client that sends more than maxStrayBytes, or sends
// maxStrayReads times, is disconnected.
const (
	maxStrayBytes = 4096
	maxStrayReads = 16
)

// strayed counts n bytes, read at once, that s's client sent after its
// request, and reports whether it has now sent too much. The caller holds
// s.mu.
func (s *subscriber) strayed(n int) bool {
	if n <= 0 {
		return false
	}
	total := int(s.stray) + n
	s.stray = uint16(min(total, maxStrayBytes+1))
	s.strayN = min(s.strayN+1, maxStrayReads)
	return total > maxStrayBytes || s.strayN >= maxStrayReads
}
