// Package redisfanout is a [push.Backend] over Redis: the brokers of several
// gateway instances that share one Redis agree on strict-mode claims and
// ended interactions, and each delivers the events the others publish.
//
//	rc := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	be, err := redisfanout.New(ctx, rc, nil)
//	// handle err
//	broker := push.NewBroker(&push.Options{Backend: be})
//
// # What is stored where
//
// Keys start with [Options.Prefix] ("gwe:" by default):
//
//   - prefix+"events" is a Redis stream, the log of events. [Backend.Publish]
//     appends an entry (fields "id", the event's ID, "ev", the bytes of
//     [push.Event.MarshalBinary], and "traceparent", the event's
//     [push.Event.TraceParent] when it has one; contract §7.3) and trims
//     the stream in the same script, to [Options.History] by the server's
//     clock and to about [Options.MaxLen] entries. [Backend.Listen] reads
//     it with XREAD BLOCK from its first entry, then from the last entry
//     it delivered.
//   - prefix+"claim:"+visitID holds the interactionID of the visit's
//     strict-mode claim, with the claim's ttl (SET NX PX).
//   - prefix+"end:"+len(visitID)+":"+visitID+":"+interactionID exists while
//     an ended interaction is remembered (SET PX). The length makes the key
//     of every (visit, interaction) pair distinct whatever bytes the IDs
//     hold.
//   - prefix+"rec:"+key is a record ([push.Backend].Load and Store: a
//     visit's offer-gating state, an outcome's election), a hash of its
//     revision "r" and data "d" with the record's ttl, written by a
//     compare-and-set script. A revision is the server's time in
//     microseconds when it was written (or the previous one and one), so
//     a key's revisions never repeat while the server's clock goes
//     forward.
//
// Every command and script touches one key, so the backend works on a Redis
// Cluster as on a single server. Redis 6.2 or later is needed (XTRIM MINID);
// the tests run against Redis 7.0.
//
// # Guarantees
//
// A Publish that returned nil is in the stream: every listener, connected
// or reconnecting, delivers it, unless the stream lost it first (trimmed by
// age or length, or the store lost). Claims are atomic on the server: of two
// claims racing for one visit, from any number of instances, exactly one
// wins. Listen delivers entries in stream order, so the events of one visit
// in the order they were published.
//
// After a disconnect a listener resumes after the last entry it delivered.
// Redis numbers entries by its clock, so a stream made anew after the store
// was lost (a restart without persistence, FLUSHALL, a failover to a replica
// that lagged) could number new entries below a listener's cursor, and
// XREAD would skip them. A listener therefore checks, on every reconnect and
// whenever a read found nothing for 5 s, that the stream still holds its
// cursor's entry; if the stream is gone, ends before the cursor or lost that
// entry, it reads again from the stream's first entry. The events kept are
// then delivered again, which the broker applies idempotently, as it does
// the rare duplicate of a Publish that the client retried after a lost
// reply. [Backend.Stats] counts these resets.
//
// Entries that do not decode, written by anything but a Backend, are
// dropped, counted in [Stats].Dropped and logged: nothing reaches a
// browser that the engage handler would not have accepted.
//
// # Memory
//
// The stream holds at most about [Options.MaxLen] entries (default 100,000)
// and none older than [Options.History] (default 31 minutes). An entry takes
// a little more than its event: 467 bytes in Redis for a typical engage with
// an invitation (409 bytes encoded), 16.4 KB for the largest valid engage
// (every invitation field at its longest, of escaped characters; 15.5 KB
// encoded), as BenchmarkStoreMemory measures with used_memory. The default
// bound is thus about 47 MB of typical events, and 1.6 GB if a strategy sent
// only the largest: lower MaxLen where Redis has less room. Trimming the
// stream drops nothing a connected broker has not read: it only shortens
// what a broker that starts, or was away, can catch up on.
//
// Each ended interaction is one key, about 140 bytes with IDs of typical
// length, kept for the ttl the broker asks (its tombstone ttl): memory
// is the rate of cancels and answers times that ttl, about 42 MB at 1,000 a
// second for 5 minutes. Each live strict-mode claim is one key of about 165
// bytes. Each record is one key, kept for its ttl: a visit's gating state
// for the broker's VisitExpiry (24 hours by default) after its last
// invitation or rejection, an outcome's election for the longest
// expiresIn and the tombstone ttl (35 minutes by default). Under memory
// pressure (below) records are evicted like ended records: an outcome may
// then be reported twice, and a visit's gating state forgotten early.
//
// Redis, not this package, bounds what it keeps: give it a maxmemory and the
// policy volatile-ttl. Under memory pressure Redis then evicts the keys
// closest to expiry, the oldest ended records first, and writes go on
// (End never fails for want of room; a very late engage of an evicted
// interaction may then be delivered); the stream, which has no ttl, is never
// evicted. With noeviction, writes fail with OOM at the limit, and the broker
// answers 503 until memory frees. Do not use an allkeys- policy: it may
// evict the stream.
//
// # Connections and deadlines
//
// The host owns the client: it configures it (address, credentials, TLS,
// pool) and closes it after the brokers have shut down. Each Listen call
// holds one connection of the client's pool for its blocking reads; on a
// Redis Cluster, one connection to the node that holds the stream. go-redis
// applies a context's deadline to a command only with
// ContextTimeoutEnabled set in its options: set it, so that the broker's
// deadlines bound every call. Listen returns promptly when its context is
// done whatever the setting: it unblocks its read with CLIENT UNBLOCK. An
// ACL user that may not (CLIENT UNBLOCK is in @dangerous), or a Ring
// client, makes Listen block for at most a second at a time instead, and
// return within a second.
//
// Errors of Redis are returned as 503 UNAVAILABLE with a Retry-After, so
// that the strategy retries (see [push.Backend]).
package redisfanout
