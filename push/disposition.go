package push

import (
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/internal/jsonscan"
	"github.com/engagekit/gateway/internal/rules"
)

// Disposition is the visitor's answer to an invitation, posted by the page
// to …/notification/{visitID}/disposition as
// {"interactionID":"…","result":"accepted","channel":"chat"}.
type Disposition struct {
	// VisitID is the visit, taken from the path.
	VisitID string `json:"-"`
	// InteractionID names the invitation answered.
	InteractionID string `json:"interactionID" validate:"required,max=64,gweid"`
	// Result is accepted, rejected, timeout (the invitation expired on
	// screen) or closed (the page went away). A page also posts two
	// reports on this path, which are not answers and never reach
	// OnDisposition: "shown" (it displayed the invitation) and "submitted"
	// (the visitor submitted the form of the accepted invitation, which
	// frees the visit in strict mode; see [Options.RegistrationFormExpiry]).
	Result string `json:"result" validate:"required,oneof=accepted rejected timeout closed"`
	// Channel is the channel the visitor chose; required when Result is
	// accepted, and then one of the invitation's channels' names.
	Channel string `json:"channel,omitempty" validate:"required_if=Result accepted,omitempty,max=32,channel"`
}

// maxDispositionBytes bounds a disposition body; a real one is under 200.
const maxDispositionBytes = 4 << 10

// serveDisposition applies a visitor's answer: the invitation stops being
// live on every broker, the visit's other pages hide it (the cancel event's
// reason is the result), and OnDisposition hears of it once, on this
// broker. Answering an invitation that is no longer live is accepted again
// (200) so that retries and other tabs are harmless; an interactionID the
// broker never had is 404. Two answers posted to two brokers at once may
// both be reported, each by its own broker.
func (b *Broker) serveDisposition(w http.ResponseWriter, r *http.Request, visitID string) {
	// Pages post with fetch (application/json) or navigator.sendBeacon,
	// which can only send text/plain.
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || (mt != "application/json" && mt != "text/plain") {
		gateway.WriteError(w, &gateway.Fault{Code: gateway.CodeUnsupportedMediaType, Message: "the media type must be application/json or text/plain"})
		return
	} else if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") {
		gateway.WriteError(w, &gateway.Fault{Code: gateway.CodeBadRequest, Message: "the charset must be UTF-8"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDispositionBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		gateway.WriteError(w, &gateway.Fault{Code: gateway.CodePayloadTooLarge, Message: "the disposition is over 4 KiB"})
		return
	case err != nil:
		gateway.WriteError(w, &gateway.Fault{Code: gateway.CodeBadRequest, Message: "the request body could not be read"})
		return
	}
	d := Disposition{VisitID: visitID}
	if err := d.decode(string(body)); err != nil {
		gateway.WriteError(w, err)
		return
	}
	switch d.Result { // reports, not answers
	case shownReport:
		b.serveShown(w, r, d) // observe.go
		return
	case submittedReport:
		b.serveSubmitted(w, r, d) // form.go
		return
	}
	if broken, _ := rules.Struct(&d); broken != nil {
		gateway.WriteError(w, invalidDisposition(broken))
		return
	}
	live, known, err := b.answer(r, d)
	if err != nil {
		gateway.WriteError(w, err)
		return
	}
	if !known {
		gateway.WriteError(w, errNoInvitation)
		return
	}
	if live {
		b.log(slog.LevelDebug, "push: disposition", slog.String("visitID", visitID), slog.String("interactionID", d.InteractionID), slog.String("result", d.Result))
		if b.onDisposition != nil {
			b.onDisposition(r.Context(), d)
		}
	}
	writeDispositionOK(w, d.InteractionID)
}

// decode reads a disposition body into d as strictly as the engage
// handler reads its parameters (contract §6.6): one JSON object (RFC 8259,
// valid UTF-8) with only the keys interactionID, result and channel,
// spelled exactly, each at most once, each a string. Anything else is a
// [*gateway.Fault] matching [gateway.ErrBadRequest] whose message never
// quotes the input; the rules of the fields are checked afterwards.
func (d *Disposition) decode(text string) error {
	var dec jsonscan.Decoder
	err := dec.Reset(text)
	if err == nil {
		if dec.Peek() != jsonscan.Object {
			return badDisposition("the disposition must be a JSON object")
		}
		err = dec.Object(func(key string) error {
			var dst *string
			switch key {
			case "interactionID":
				dst = &d.InteractionID
			case "result":
				dst = &d.Result
			case "channel":
				dst = &d.Channel
			default:
				return badDisposition("the disposition may hold only interactionID, result and channel")
			}
			if dec.Peek() != jsonscan.String {
				return badDisposition(key + " must be a string")
			}
			s, err := dec.String()
			*dst = s
			return err
		})
	}
	if err == nil {
		err = dec.End()
	}
	var se *jsonscan.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return badDisposition("the disposition is not valid JSON: " + se.Error())
	case errors.As(err, new(*gateway.Fault)):
		return err
	}
	return badDisposition("the disposition is not valid JSON")
}

func badDisposition(msg string) error {
	return &gateway.Fault{Code: gateway.CodeBadRequest, Message: msg}
}

// invalidDisposition is the error for a disposition that breaks its tags.
func invalidDisposition(broken []rules.FieldError) error {
	fields := make([]gateway.FieldError, len(broken))
	for i, f := range broken {
		fields[i] = gateway.FieldError(f)
	}
	return &gateway.Fault{Code: gateway.CodeValidation, Message: "disposition is invalid", Fields: fields}
}

// errWrongChannel refuses an acceptance through a channel the invitation
// did not offer.
var errWrongChannel = &gateway.Fault{Code: gateway.CodeValidation, Message: "disposition is invalid", Fields: []gateway.FieldError{
	{Field: "channel", Rule: "offered", Message: "channel must be one of the invitation's channels"},
}}

// answer ends the invitation d names on every broker. It reports whether
// this answer is the one that ended it, and whether the broker knows the
// invitation at all (live or remembered).
func (b *Broker) answer(r *http.Request, d Disposition) (first, known bool, err error) {
	now := b.now()
	sh := b.shard(d.VisitID)
	sh.mu.Lock()
	v := sh.visits[d.VisitID]
	var inv *invitation
	if v != nil {
		b.expire(sh, d.VisitID, v, now)
		if i := v.live(d.InteractionID); i >= 0 {
			inv = v.invs[i]
		}
	}
	switch {
	case inv == nil:
		_, ended := sh.tomb(d.VisitID, d.InteractionID, now)
		sh.mu.Unlock()
		return false, ended, nil
	case d.Result == "accepted" && !slices.Contains(inv.channels, d.Channel):
		sh.mu.Unlock()
		return false, true, errWrongChannel
	case inv.answering:
		sh.mu.Unlock()
		return false, true, nil // another tab's answer is on its way
	}
	inv.answering = true
	sh.mu.Unlock()

	ev := b.traced(r.Context(), answerEvent(d, now))
	err = b.holdForm(r, ev)
	if err == nil && d.Result == string(ResultRejected) {
		err = b.noteRejection(r.Context(), d.VisitID, now)
	}
	if err == nil {
		err = b.finish(r.Context(), d.VisitID, d.InteractionID, ev)
	}
	if err != nil {
		sh.mu.Lock()
		inv.answering = false
		sh.mu.Unlock()
		return false, true, err
	}
	return true, true, nil
}
