// Package webhook delivers the outcomes of invitations ([push.Outcome]) to
// an HTTP endpoint of the strategy's side, as signed messages of the
// Standard Webhooks specification (https://www.standardwebhooks.com), so
// that a back end learns whether its invitation was accepted, rejected,
// timed out, closed, expired, cancelled or suppressed.
//
//	s, err := webhook.New("https://crm.example/hooks/engagement", secret, nil)
//	…
//	s.Send(ctx, outcome) // queues it and returns at once
//	// or, from every broker of a cluster, each outcome once:
//	push.NewBroker(&push.Options{Backend: backend, OnOutcome: s.OnOutcome})
//	…
//	s.Close(ctx)         // delivers what is queued, then stops
//
// Beside the gateway's own packages it uses the standard library only;
// the svix library verifies its signatures in its tests alone.
//
// # Messages
//
// Each outcome is one POST to the endpoint, Content-Type application/json:
//
//	webhook-id:        msg_be35qhUpsEJ2i9g_T7Exrg
//	webhook-timestamp: 1795948346
//	webhook-signature: v1,<base64 of 32 bytes>
//
//	{"type":"engagement.outcome","timestamp":"2026-11-29T10:32:25.123Z",
//	 "data":{"visitID":"v-1","interactionID":"i-1","result":"accepted",
//	         "channel":"chat","time":"2026-11-29T10:32:25.123Z"}}
//
// The envelope is the one the specification recommends: type is always
// [EventType], timestamp is when the outcome happened (data.time, in UTC),
// and data is the [push.Outcome], channel present only for accepted.
// webhook-id is [MessageID] of the outcome, webhook-timestamp the Unix time
// of the attempt (a retry carries a newer one), and webhook-signature is
// v1, a comma, and the base64 HMAC-SHA256 of "id.timestamp.body" under the
// secret.
//
// # Verifying, on the receiver's side
//
// Use a Standard Webhooks library (github.com/standard-webhooks, or Svix's,
// which reads the same headers), with the same whsec_ secret; in Go:
//
//	wh, err := svix.NewWebhook(secret)
//	…
//	err = wh.Verify(body, r.Header) // the raw body, before any JSON decoding
//
// By hand, as the specification says: decode the secret (base64 after
// whsec_), compute the HMAC-SHA256 of webhook-id, '.', webhook-timestamp,
// '.', and the raw body; compare it in constant time with each v1 entry of
// webhook-signature (a space-separated list); refuse a timestamp more than
// a few minutes from now (the libraries allow 5), which stops replays.
// Then answer 2xx at once and process afterwards: an answer later than
// [Options.AttemptTimeout] counts as a failure and the outcome comes again.
//
// # Delivery guarantees
//
//   - At least once. An outcome that Send accepted is sent until the
//     receiver answers 2xx, so the receiver may get it more than once: when
//     its answer is lost or late, or when two instances send it.
//   - A stable webhook-id. The ID is derived from the outcome's VisitID,
//     InteractionID and Result alone, so every attempt, after a restart of
//     the process or from another instance, carries the same one. A
//     receiver deduplicates on it, for longer than the retries last (the
//     default schedule spans about 2 minutes, plus the attempts' time).
//   - No order. Outcomes are sent by several workers and retried
//     independently: order by data.time, not by arrival.
//   - Losses are counted. The queue lives in memory, and an outcome is not
//     delivered when Send refuses it (its error says so, [Stats].Dropped
//     counts it), when the Sender gives up on it (a final answer, the
//     attempts exhausted, or Close giving up: [Stats].Failed counts it and
//     [Options.OnFailure] gets it, to keep and send again later under the
//     same ID), or when the process dies with it queued, the one loss
//     nothing reports: Close before exiting.
//
// # The queue and its overflow
//
// Send never blocks: it is called on request paths (a visitor's
// disposition), where waiting for a slow back end would hold a browser's
// request. Outcomes wait in a bounded queue ([Options.QueueSize], default
// 1024) for a small fixed set of workers ([Options.Workers], default 4),
// so the Sender holds at most QueueSize+Workers outcomes. When the queue
// is full the newest outcome is dropped: Send returns [ErrQueueFull],
// Stats.Dropped counts it, and a warning is logged at most once every 10
// seconds with the total dropped. Dropping the newest rather than the
// oldest keeps a promise: an outcome Send accepted is never discarded to
// make room, and the caller of the one refused learns it at once. A
// broker reports a burst as it comes (every invitation of a campaign
// expiring at once: up to push.Options.MaxInvitations outcomes, 100,000
// by default), faster than a receiver answers; size QueueSize for the
// bursts you expect.
//
// # Retries
//
// A 2xx answer is a delivery. After a timeout ([Options.AttemptTimeout],
// default 15 s), a connection error, a 5xx or a 429 the outcome is sent
// again, up to [Options.MaxAttempts] (default 8) attempts in all. Any
// other answer is final and not retried: a 4xx says the request itself is
// refused (a wrong secret, a gone endpoint), and a 3xx is not followed (fix
// the URL). The wait after the nth failure doubles from
// [Options.MinBackoff], is capped at [Options.MaxBackoff], and is jittered
// to a random point of its upper half; a Retry-After header (seconds or a
// date) lengthens it, up to MaxBackoff. With the defaults:
//
//	attempt  1   at once
//	attempt  2   after 0.5–1 s
//	attempt  3   after 1–2 s
//	attempt  4   after 2–4 s
//	attempt  5   after 4–8 s
//	attempt  6   after 8–16 s
//	attempt  7   after 16–32 s
//	attempt  8   after 30–60 s    then the outcome is given up on
//
// that is 61 to 123 seconds of waiting. A worker waits out an outcome's
// backoff before it takes the next, so a failing endpoint slows the
// Sender down, as the specification asks of 429, 502 and 504, instead of
// being hammered; the queue takes up the difference, then overflows.
//
// # Secrets and their rotation
//
// A secret is whsec_ followed by 24 to 64 random bytes in standard base64
// ([NewSecret] makes one of 32); it is never logged or printed, and
// neither is a signature or a body. The Sender signs with one secret.
// Rotation starts at the receiver, which can verify with several: it
// accepts the old and the new secret; then every sending instance is
// restarted with the new one; then the receiver drops the old. No message
// fails verification at any step. (The specification also lets a sender
// sign with two secrets at once, a second v1 entry in webhook-signature;
// this one does not.)
//
// # In a cluster
//
// A Sender sends what it is given and coordinates with nothing. Give its
// [Sender.OnOutcome] to each instance's broker as push.Options.OnOutcome:
// the brokers sharing a backend elect, through the backend, the one that
// reports each outcome, so a cluster sends each outcome once. When the
// backend cannot be reached, each broker that saw an outcome reports it,
// and when a Sender retries, the receiver may get it again; both messages
// carry the same webhook-id, and a receiver that deduplicates processes it
// once.
//
// # Shutting down
//
// [Sender.Close] stops taking outcomes and delivers the queue, retries
// included; when its context ends first it gives up on the rest (each
// reported to OnFailure) and returns once every goroutine of the Sender
// has ended. Call it after the HTTP server that produces outcomes has shut
// down, so that none arrive after it.
package webhook
