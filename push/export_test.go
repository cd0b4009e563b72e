package push

// Sweep does at once what the broker's sweeper does every second, for tests
// that move an injected clock (Options.Now). It is not part of the API.
func (b *Broker) Sweep() { b.sweep() }
