package push

import (
	"context"
	"time"
)

// Backend is what the brokers of a deployment share: the few facts that must
// be agreed on by every instance, and the log of events that carries every
// change of delivery state to every instance. A [Broker] holds the delivery
// rules of contract §6 and applies them once, whatever the backend; a
// Backend holds shared state and moves events, and decides no rule.
//
// [NewMemoryBackend] is the default: one process, no network. The
// natsfanout module is a Backend over NATS JetStream and the redisfanout
// module one over Redis; package push/pushtest checks any Backend against
// every rule, with several brokers sharing it.
//
// The contract:
//   - Methods are called concurrently by the brokers of one process, and by
//     brokers of other processes through their own Backend values that share
//     the same store. Each call's context bounds it: a method returns
//     promptly once its context is done.
//   - An error means the call may not have taken effect and the store could
//     not be reached, or refused. The broker then answers the engage, cancel
//     or answer 503 UNAVAILABLE, and the strategy retries: a Backend never
//     reports success for what it did not do. A [*gateway.Fault] (or an
//     error wrapping one) with a RetryAfter sets the Retry-After the broker
//     sends.
//   - Claims, ended IDs and the log are keyed by visitID and interactionID
//     together: the same interactionID used for two visits is two
//     independent facts. Records are keyed by the broker's own keys.
//   - A Backend keeps no pointer to an [*Event] after the call that was
//     given it returns, and never changes one.
//   - A Backend whose log is not in this process stores the bytes of
//     [Event.MarshalBinary] and, when [Event.TraceParent] is not empty,
//     the traceparent beside them, in the message's headers (a NATS
//     header, a field of a Redis stream entry; contract §7.3). It makes
//     the event again with [DecodeEvent], which checks both.
type Backend interface {
	// Claim makes interactionID the holder of visitID's strict-mode claim
	// for ttl, unless another interaction holds it, atomically across every
	// broker sharing the store: of two claims racing for one visit, exactly
	// one wins. It returns the holder after the call, which is interactionID
	// when the claim is (now, or already) its own. A claim lapses after its
	// ttl (at a resolution of at most one second), or when it is released.
	// A holder that claims again sets its ttl anew, from now: the broker
	// keeps an accepted invitation's claim this way while the visitor's
	// form is open ([Options.RegistrationFormExpiry]).
	Claim(ctx context.Context, visitID, interactionID string, ttl time.Duration) (holder string, err error)

	// Release drops visitID's claim if interactionID holds it, and does
	// nothing otherwise (another interaction's claim, or none).
	Release(ctx context.Context, visitID, interactionID string) error

	// End records that interactionID of visitID has ended (it was
	// cancelled or answered) for ttl, so that an engage for it that comes
	// later, on any broker, is dropped. Recording it again is harmless. A
	// Backend may bound what it remembers by forgetting the oldest records
	// before their ttl (documented by the Backend, with its bound); End never
	// fails for want of room.
	End(ctx context.Context, visitID, interactionID string, ttl time.Duration) error

	// Ended reports whether End recorded interactionID of visitID and the
	// record is still kept.
	Ended(ctx context.Context, visitID, interactionID string) (bool, error)

	// Load returns the record kept under key and its revision, or nil and
	// revision 0 when there is none (never stored, or aged out). A
	// record's revision is never 0, and a key's revisions never repeat
	// while the store lasts, so a Store at a revision read earlier fails
	// if anything stored the key since, even after the record aged out
	// and was made again. The broker uses records for state that
	// outlives an invitation (offer gating, the election of the broker
	// that reports an outcome); the backend decides nothing from them.
	// Load never returns data the caller may change in the Backend.
	Load(ctx context.Context, key string) (data []byte, rev uint64, err error)

	// Store writes data under key, kept for ttl from now (at a resolution
	// of at most one second), if the key's revision is still rev, and
	// reports whether it did, atomically across every broker sharing the
	// store: of two Stores racing at one revision, at most one succeeds.
	// rev 0 creates the record only if the key holds none, so that
	// exactly one of several brokers creating a key succeeds. Each
	// successful Store sets the record's ttl anew. ok false with a nil
	// error is a lost race, not a failure: Load again and decide again.
	//
	// A key is at most [MaxRecordKeyBytes] bytes and data at most
	// [MaxRecordBytes]; a Backend refuses larger ones with an error. Keys
	// may hold any bytes, and are a namespace of their own, apart from
	// claims and ended IDs. A Backend bounds the records it keeps by
	// forgetting records before their ttl, the ones closest to their end
	// or the oldest, and documents its bound; Store never fails for want
	// of room. A forgotten record reads as none. A Backend that forgets
	// the oldest first should keep the records [IsElection] names apart
	// from the others, which they would otherwise push out.
	Store(ctx context.Context, key string, data []byte, rev uint64, ttl time.Duration) (ok bool, err error)

	// Publish appends ev to the log and returns once the log holds it:
	// from then on every broker listening, now or after a reconnect, gets
	// it. A Backend may use ev.ID to drop the duplicates of one Publish call
	// that it retried itself; events with distinct IDs are all kept.
	Publish(ctx context.Context, ev *Event) error

	// Listen calls deliver with the log's events until ctx is done, then
	// returns ctx's error; it returns another error only when it cannot
	// listen at all (a configuration error), before delivering anything.
	//
	// Events of one visit are delivered in the order they were published;
	// events of different visits may interleave. Listen starts with the
	// oldest event the log still keeps (a memory backend keeps none), so a
	// broker that starts late learns the pending invitations. Across a
	// disconnect it resumes after the last event delivered, so nothing is
	// missed and little is repeated; when the log was reset meanwhile (its
	// store lost, and then recreated), it starts again from the oldest event
	// the log now has instead of skipping past the end. An event may thus be
	// delivered more than once: the broker applies each idempotently.
	//
	// deliver may be called from several goroutines at once, but the
	// events of one visit reach it one at a time, in order (a backend may
	// thus deliver from one goroutine, or from one per shard of visits).
	// deliver returns quickly, never blocks, and must not call the Backend
	// or keep ev. Events that do not decode (see [DecodeEvent]) are
	// dropped, never delivered, and counted or logged by the Backend.
	Listen(ctx context.Context, deliver func(*Event)) error

	// Ping reports whether the store is reachable now, for readiness checks.
	Ping(ctx context.Context) error
}
