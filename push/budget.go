package push

import (
	"time"
	"unsafe"
)

// This file holds the bounds on the memory of live invitations (contract
// §6.8): a byte budget in all and a count per visit, both checked by
// admit, never when an event is applied.

// DefaultMaxInvitationBytes is the default of [Options.MaxInvitationBytes]:
// 256 MiB of live invitations, for a process of about 1 GiB.
const DefaultMaxInvitationBytes = 256 << 20

// invitationOverhead is what the view holds for a live invitation besides
// its frame and its strings: the invitation struct, its channels' string
// headers aside, its place in the visit's list, and its share of the
// visit's entry and of a memory backend's claim.
// TestInvitationBytesTrackTheHeap checks the sum against the heap.
const invitationOverhead = int64(unsafe.Sizeof(invitation{})) + 96

// bytes is what inv counts toward MaxInvitationBytes: its frame's
// allocation, its strings and their headers, and invitationOverhead.
func (inv *invitation) bytes() int64 {
	n := invitationOverhead + int64(cap(inv.frame)) + int64(len(inv.id)+len(inv.pageID))
	for _, c := range inv.channels {
		n += int64(len(c)) + int64(unsafe.Sizeof(c))
	}
	return n
}

// held counts inv as live, freed as ended. The caller holds the lock of
// inv's shard.
func (b *Broker) held(inv *invitation) {
	b.invs.Add(1)
	b.invBytes.Add(inv.bytes())
}

func (b *Broker) freed(inv *invitation) {
	b.invs.Add(-1)
	b.invBytes.Add(-inv.bytes())
}

var (
	errFullBytes = unavailable(time.Second, "push: the live invitations' byte budget is spent")
	errVisitFull = unavailable(time.Second, "push: the visit has MaxInvitationsPerVisit live invitations")
)

// visitFull reports whether visitID has MaxInvitationsPerVisit live
// invitations in the view.
func (b *Broker) visitFull(visitID string) bool {
	sh := b.shard(visitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v := sh.visits[visitID]
	if v == nil {
		return false
	}
	b.expire(sh, visitID, v, b.now())
	return len(v.invs) >= b.perVisitInvs
}
