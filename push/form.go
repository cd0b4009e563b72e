package push

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/internal/rules"
)

// This file holds what strict mode keeps of an accepted invitation while
// the visitor fills in the registration or chat form (GWE's
// registrationFormExpirationTime): the backend's claim of the visit, kept
// by the accepted interaction for Options.RegistrationFormExpiry, and in
// each broker's view the open forms, so that the broker does not take the
// claim back from an interaction it saw end (see claim in broker.go). The
// page reports the form submitted, which releases the claim.

// submittedReport is the result a page posts to the disposition path to
// report that the visitor submitted the form of an accepted invitation:
// not an answer, it frees the visit in strict mode.
const submittedReport = "submitted"

// The default of Options.RegistrationFormExpiry and GWE's range for
// registrationFormExpirationTime.
const (
	defaultFormExpiry = 120 * time.Second
	minFormExpiry     = 10 * time.Second
	maxFormExpiry     = 30 * time.Minute
)

// formExpiry returns the RegistrationFormExpiry an option asks for, and
// panics outside GWE's range.
func formExpiry(d time.Duration) time.Duration {
	if d == 0 {
		return defaultFormExpiry
	}
	if d < minFormExpiry || d > maxFormExpiry {
		panic("push: Options.RegistrationFormExpiry must be between 10s and 30m, as GWE's registrationFormExpirationTime")
	}
	return d
}

// opensForm reports whether ev, an event that ends an invitation, is its
// acceptance: the visitor's form opens.
func opensForm(ev *Event) bool { return ev.op == opAnswer && ev.answer.Result == "accepted" }

// holdForm keeps, in strict mode, the visit's claim for the interaction
// that ev accepts, for RegistrationFormExpiry from now: a claim taken again
// by its holder starts its TTL anew ([Backend.Claim]). It runs before the
// answer is recorded, so that the claim is never free between the answer
// and the form. A claim another interaction holds (the accepted one's
// lapsed at its expiry, at the backend's resolution, and was taken) is left
// to it.
func (b *Broker) holdForm(r *http.Request, ev *Event) error {
	if !b.strict || !opensForm(ev) {
		return nil
	}
	if _, err := b.backend.Claim(r.Context(), ev.answer.VisitID, ev.answer.InteractionID, b.formTTL); err != nil {
		return backendUnavailable("Claim", err)
	}
	return nil
}

// endTTL is how long the backend remembers the end ev records: an
// acceptance at least as long as its form may stay open, so that the
// form's report of "submitted" finds it.
func (b *Broker) endTTL(ev *Event) time.Duration {
	if b.strict && opensForm(ev) {
		return max(b.tombTTL, b.formTTL)
	}
	return b.tombTTL
}

// noteForm records in the view what ev, the cancel or answer that ends id
// of visitID at the given time, does to its form: an acceptance opens it
// for RegistrationFormExpiry (from now at the latest, as tombstones), a
// cancel closes it. Like tombstones, forms are bounded per shard: at the
// bound the oldest is forgotten, and an engage may then take the visit
// before that form is done. The caller holds sh.mu.
func (b *Broker) noteForm(sh *shard, visitID, id string, ev *Event, at, now time.Time) {
	if !b.strict || ev == nil {
		return
	}
	var buf [256]byte
	key := endedKey(buf[:0], visitID, id)
	switch {
	case opensForm(ev):
		sh.forms.add(key, minTime(at, now).Add(b.formTTL).UnixNano(), struct{}{}, b.tombsPerShard, now.UnixNano())
		b.wakeSweeper()
	case ev.op == opCancel:
		sh.forms.remove(key)
	}
}

// formOpen reports whether id of visitID was accepted and its form is
// still open in the view. The caller holds sh.mu.
func (sh *shard) formOpen(visitID, id string, now time.Time) bool {
	var buf [256]byte
	_, open := sh.forms.get(endedKey(buf[:0], visitID, id), now.UnixNano())
	return open
}

// serveSubmitted answers a page's report that the visitor submitted the
// form of an accepted invitation (contract §6.6):
// {"interactionID":"…","result":"submitted"}, posted to the disposition
// path with the same checks.
//
// In strict mode the backend decides, not the view, so that the report
// may reach any instance at once: an interaction the backend has seen end
// (answered or cancelled) has its claim released, which frees the visit
// only if that interaction holds it, that is, only if it was accepted and
// its form is still open. A report for an invitation still live (not yet
// answered) is refused 400 VALIDATION: releasing its claim would let a
// second invitation in beside it. One for an invitation that expired and
// is remembered is answered 200; one the broker never had is 404. In
// lenient mode, where nothing is claimed, a known invitation is answered
// 200 and nothing changes.
func (b *Broker) serveSubmitted(w http.ResponseWriter, r *http.Request, d Disposition) {
	if broken := interactionIDRule.Check(d.InteractionID); broken != nil {
		gateway.WriteError(w, invalidDisposition([]rules.FieldError{*broken}))
		return
	}
	if d.Channel != "" {
		gateway.WriteError(w, invalidDisposition([]rules.FieldError{{Field: "channel", Rule: "excluded", Message: "channel must be absent when result is submitted"}}))
		return
	}
	if b.strict {
		ended, err := b.backend.Ended(r.Context(), d.VisitID, d.InteractionID)
		if err != nil {
			gateway.WriteError(w, backendUnavailable("Ended", err))
			return
		}
		if ended {
			if err := b.backend.Release(r.Context(), d.VisitID, d.InteractionID); err != nil {
				gateway.WriteError(w, backendUnavailable("Release", err))
				return
			}
			var buf [256]byte
			sh := b.shard(d.VisitID)
			sh.mu.Lock()
			sh.forms.remove(endedKey(buf[:0], d.VisitID, d.InteractionID))
			sh.mu.Unlock()
			b.log(slog.LevelDebug, "push: form submitted", slog.String("visitID", d.VisitID), slog.String("interactionID", d.InteractionID))
			writeDispositionOK(w, d.InteractionID)
			return
		}
	}
	now := b.now()
	sh := b.shard(d.VisitID)
	sh.mu.Lock()
	var live bool
	if v := sh.visits[d.VisitID]; v != nil {
		b.expire(sh, d.VisitID, v, now)
		live = v.live(d.InteractionID) >= 0
	}
	_, known := sh.tomb(d.VisitID, d.InteractionID, now)
	sh.mu.Unlock()
	switch {
	case live && b.strict:
		gateway.WriteError(w, errNotAccepted)
	case live || known:
		writeDispositionOK(w, d.InteractionID)
	default:
		gateway.WriteError(w, errNoInvitation)
	}
}

// errNotAccepted refuses a "submitted" report for an invitation that has
// not been answered.
var errNotAccepted = &gateway.Fault{Code: gateway.CodeValidation, Message: "disposition is invalid", Fields: []gateway.FieldError{
	{Field: "result", Rule: "accepted", Message: "result submitted needs the invitation accepted first"},
}}
