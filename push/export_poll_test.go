package push

// Counts of the connection layer's structures, for tests that check a
// stream leaves each of them. They are not part of the API.

// WheelLen returns how many streams the heartbeat wheel holds.
func (b *Broker) WheelLen() int {
	b.beats.mu.Lock()
	defer b.beats.mu.Unlock()
	n := 0
	for _, slot := range b.beats.slots {
		n += len(slot)
	}
	return n
}

// VisitsLen returns how many visits the broker's view holds.
func (b *Broker) VisitsLen() int {
	n := 0
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		n += len(sh.visits)
		sh.mu.Unlock()
	}
	return n
}

// PolledLen returns how many streams the poller watches.
func (b *Broker) PolledLen() int { return b.polled() }
