package push

import "time"

// Outcome is how an invitation ended, as the strategy that asked for it is
// told: by an in-process hook, or by a deliverer such as the webhook module
// (github.com/engagekit/gateway/webhook), which sends it as JSON with the
// field names below.
//
// An invitation has one outcome. VisitID, InteractionID and Result name it:
// the same three values always mean the same outcome, so a deliverer can
// derive an idempotency key from them and a receiver can deduplicate on it.
type Outcome struct {
	// VisitID is the visit the invitation was for.
	VisitID string `json:"visitID"`
	// InteractionID names the invitation, as the engage's Profile did.
	InteractionID string `json:"interactionID"`
	// Result is how it ended: one of the Result constants.
	Result Result `json:"result"`
	// Channel is the channel the visitor chose when Result is
	// [ResultAccepted], and empty otherwise.
	Channel string `json:"channel,omitempty"`
	// Time is when the outcome happened, by the clock of the instance that
	// saw it.
	Time time.Time `json:"time"`
}

// Result is how an invitation ended. Its values are the Result constants;
// the first four are also the results a page posts as a [Disposition].
type Result string

// The results of an invitation.
const (
	// ResultAccepted: the visitor accepted the invitation through
	// Outcome.Channel.
	ResultAccepted Result = "accepted"
	// ResultRejected: the visitor declined it.
	ResultRejected Result = "rejected"
	// ResultTimeout: the invitation was shown and its time on screen ran
	// out before the visitor answered.
	ResultTimeout Result = "timeout"
	// ResultClosed: the page that showed it went away (closed, reloaded or
	// navigated) before the visitor answered.
	ResultClosed Result = "closed"
	// ResultExpired: the invitation's lifetime (Profile.ExpiresIn or
	// [Options.DefaultExpiry]) ended on the server with no answer from any
	// page, whether or not a page showed it.
	ResultExpired Result = "expired"
	// ResultCancelled: the strategy took the invitation back (noengage)
	// before the visitor answered.
	ResultCancelled Result = "cancelled"
	// ResultSuppressed: the engage was refused by an offer-gating rule, so
	// no invitation was shown.
	ResultSuppressed Result = "suppressed"
)
