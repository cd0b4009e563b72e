package push

// DefaultMaxSubscribers is the default of Options.MaxSubscribers for a
// process that may open limit files (ok false: no known limit), for tests.
func DefaultMaxSubscribers(limit uint64, ok bool) int { return defaultMaxSubscribers(limit, ok) }

// FileLimit is the process's limit on open files, as NewBroker reads it.
func FileLimit() (uint64, bool) { return fileLimit() }

// StreamLimits returns the broker's MaxSubscribers and MaxStreamsPerClient
// as NewBroker resolved them, for tests.
func (b *Broker) StreamLimits() (maxSubscribers, perClient int) {
	return int(b.maxSubs), b.clients.max
}
