package push

// Sweep does at once what the broker's sweeper does when something is due, for tests
// that move an injected clock (Options.Now). It is not part of the API.
func (b *Broker) Sweep() { b.sweep() }

// BeatTicks is how many times the heartbeat wheel's ticker has ticked, for
// tests. It is not part of the API.
func (b *Broker) BeatTicks() int64 { return b.beats.ticks.Load() }
