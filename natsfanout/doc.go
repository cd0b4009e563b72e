// Package natsfanout is a [push.Backend] over NATS JetStream: the brokers
// of several gateway instances share one NATS server (or cluster), so that
// whichever instance holds a visitor's event stream delivers the
// invitation, whichever instance the strategy called.
//
// Each instance makes one [Backend] with [New] on its own NATS connection
// and runs its broker on it:
//
//	nc, err := nats.Connect(url, natsfanout.ConnectOptions(logger)...)
//	b, err := natsfanout.New(ctx, nc, &natsfanout.Options{Logger: logger})
//	broker := push.NewBroker(&push.Options{Backend: b})
//
// The broker holds the delivery rules; the Backend holds what the
// instances share and decides nothing.
//
// # What lives where
//
//   - Events go to a JetStream stream (default GWE_EVENTS) on one subject
//     (default gwe.events), each with its event's ID as the message ID, so
//     a publish retried within two minutes is stored once, and the
//     event's traceparent, when it has one, in the message header
//     traceparent (contract §7.3). Publish returns once the stream has
//     acknowledged the event.
//   - Each Listen call reads the stream in order through an ephemeral
//     consumer of its own, from the oldest event the stream keeps, and
//     resumes after the last event it read when its consumer is lost.
//     Every message is decoded with [push.DecodeEvent], which checks it
//     with the engage handler's rules: what does not decode is dropped,
//     counted in [Stats.Dropped] and logged, never delivered. A
//     traceparent header that is not valid, or repeated, is ignored.
//   - Strict-mode claims are keys of a key-value bucket (default
//     GWE_CLAIMS), one per visit, written with an atomic create and a
//     per-key TTL: of two claims racing on two instances exactly one wins.
//   - Ended interactions are keys of a second bucket (default GWE_ENDED),
//     one per visit and interactionID, with a per-key TTL.
//   - Records ([push.Backend].Load and Store) are keys of two more
//     buckets, each with a per-key TTL: visits' offer-gating state in one
//     (default GWE_RECORDS), outcome elections ([push.IsElection]) in the
//     other (default GWE_ELECTIONS), so that a burst of outcomes cannot
//     push gating state out.
//
// IDs are base64url-encoded in keys, so that any valid ID makes a valid key.
//
// # Limits
//
// Every store is bounded; each bound is an [Options] field with a default:
//
//   - The stream keeps events for [Options.History] (default 31 minutes,
//     the longest expiresIn and a minute) and at most [Options.MaxBytes]
//     (default 256 MiB); past either the oldest events are dropped, and a
//     broker that starts or reconnects later no longer learns of them. One
//     message is at most [push.MaxEventBytes]: the server refuses larger
//     ones.
//   - The claims bucket holds at most [Options.MaxClaimBytes] (default
//     16 MiB: at least 80,000 live claims of 40-character visitIDs, some
//     175 bytes each as TestClaimsAreBounded measures); past it Claim
//     fails, and the broker answers 503 until claims lapse or are
//     released.
//   - The ended bucket holds at most [Options.MaxEndedBytes] (default
//     64 MiB: at least 250,000 records of 40-character IDs, some 230 bytes
//     each as TestEndedIsBounded measures); past it the oldest records are
//     forgotten before their TTL, so End never fails for want of room, and
//     a very late engage for a forgotten interaction may then be shown.
//   - The records bucket (offer-gating state per visit) holds at most
//     [Options.MaxRecordBytes] (default 64 MiB), and the elections bucket
//     at most [Options.MaxElectionBytes] (default 64 MiB); past its bound
//     a bucket forgets its oldest records before their TTL, so Store never
//     fails for want of room. A record's revision is its message's
//     sequence in the bucket's stream, and Store is a publish that expects
//     the subject's last sequence, with a per-message TTL (NATS 2.11 or
//     later). Oldest means written longest ago, whatever its TTL. A record
//     takes some 255 bytes with IDs of 40 characters (250,000 in the
//     default bound, as TestElectionsForgetTheOldestWritten measures).
//     Gating writes one record per gated visit, kept for
//     push.Options.VisitExpiry (24 h) after its last engage: size
//     MaxRecordBytes as the visits gated within that time × 255 bytes,
//     past which the visits written to longest ago lose their gating
//     state and their next engage passes its cool-down and its window.
//     With OnOutcome each invitation, and each suppressed engage, writes
//     one election, kept 35 minutes: past some 120 outcomes a second the
//     elections bucket holds less than that, and a broker that applies an
//     end later than what it holds (one catching up after a partition)
//     may report the outcome again. Size MaxElectionBytes as outcomes a
//     second × 2,100 s × 255 bytes. A burst of elections pushes out only
//     elections (TestElectionsKeepGatingState).
//
// # Failures
//
// Every method but Listen returns an error wrapping the NATS failure as a
// 503 with Retry-After when NATS cannot be reached, at once while the
// connection is down, and after at most [Options.Timeout] otherwise.
//
// When the NATS server loses its store (restarted with an empty disk), or
// the stream or a bucket is deleted, the first call that finds one missing
// creates the stream and all four buckets again and is then carried out;
// Ping does too, so a readiness probe repairs the store. A listener that finds the stream recreated (its
// creation time changed, or its cursor is past the stream's end) reads it
// again from its first event instead of skipping what the new stream
// holds: every event published after the store came back is delivered to
// every listener.
package natsfanout
