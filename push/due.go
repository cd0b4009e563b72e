package push

import "container/heap"

// dueHeap holds a shard's live invitations by expiry, so that the sweep
// finds those whose time has come without looking at the others. It is
// guarded by the shard's mutex.
type dueHeap []dueEntry

type dueEntry struct {
	v   *visit
	inv *invitation
}

func (h *dueHeap) push(v *visit, inv *invitation) { heap.Push(h, dueEntry{v, inv}) }

// remove takes inv out of the heap, if it is in it.
func (h *dueHeap) remove(inv *invitation) {
	if inv.due > 0 {
		heap.Remove(h, inv.due-1)
	}
}

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].inv.expiresAt.Before(h[j].inv.expiresAt) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].inv.due, h[j].inv.due = i+1, j+1
}

func (h *dueHeap) Push(x any) {
	e := x.(dueEntry)
	e.inv.due = len(*h) + 1
	*h = append(*h, e)
}

func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = dueEntry{}
	*h = old[:len(old)-1]
	e.inv.due = 0
	if cap(*h) > 64 && len(*h) <= cap(*h)/4 { // give a flood's memory back
		*h = append(dueHeap(nil), *h...)
	}
	return e
}
