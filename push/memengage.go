package push

import "time"

// This file holds the memory backend's engage in one step: a broker's
// Engage asks any Backend whether the interaction ended, claims the visit,
// asks again (a cancel on another broker may have come between) and
// publishes, four calls; a MemoryBackend does the same under one lock of
// the visit's shard, so that the default broker takes one lock where it
// would take four. The rules stay in the broker: it calls engage only to
// be told what the four calls would have told it.

// memEngage is what [MemoryBackend.engage] did.
type memEngage int

const (
	memPublished memEngage = iota // the engage's event was published
	memEnded                      // the interaction had ended: nothing was done
	memHeld                       // another interaction holds the claim: nothing was published
)

// engage publishes ev, an engage, unless its interaction has ended; with
// claim set it first claims ev's visit for ttl, and publishes only if the
// claim is ev's (see [MemoryBackend.Claim]). The ended check and the claim
// are one atomic step, so no cancel can come between them; the publish
// follows, as [MemoryBackend.Publish]. With memHeld it returns the holder.
func (m *MemoryBackend) engage(ev *Event, claim bool, ttl time.Duration) (memEngage, string) {
	p := ev.profile
	var buf [256]byte
	key := endedKey(buf[:0], p.VisitID, p.InteractionID)
	sh := m.shard(p.VisitID)
	sh.mu.Lock()
	if m.hasEnded(sh, key) {
		sh.mu.Unlock()
		return memEnded, ""
	}
	if claim {
		if holder := sh.claim(p.VisitID, p.InteractionID, ttl, m.now()); holder != p.InteractionID {
			sh.mu.Unlock()
			return memHeld, holder
		}
	}
	sh.mu.Unlock()
	m.publish(sh, ev)
	return memPublished, ""
}
