package push

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/internal/jsonscan"
	"github.com/engagekit/gateway/internal/rules"
)

// MaxEventBytes is the largest encoded [Event]: the largest valid engage
// with every character escaped stays well under it. Backends set their
// message size limit to it; [Event.UnmarshalBinary] refuses larger data.
const MaxEventBytes = 64 << 10

// Event is one change of delivery state, an engage, a cancel or a
// visitor's answer, as a [Broker] publishes it through its [Backend] and as
// every broker applies it when the Backend delivers it.
//
// Backends treat an Event as opaque: one that crosses a network stores the
// bytes of [Event.MarshalBinary], and [Event.TraceParent] beside them, and
// makes the Event again with [DecodeEvent], which checks the bytes with the
// rules the engage handler applies (and the traceparent with W3C's), so
// that nothing read from a shared log reaches a browser unless a handler
// would have accepted it. An Event carries only what
// delivery needs: a profile's userData and unknown keys stay with the
// instance that received them.
//
// The encoding is JSON, one object: {"op":"engage"|"cancel"|"answer"|
// "notify", "id", "at", then "profile" and "expiresAt" for an engage,
// "cancel" (a cancelData object) for a cancel, "answer" ({visitID,
// interactionID, result, channel}) for an answer, and "notify" ({visitID,
// messages}, a [gateway.Notification]) for a notify}. An event's trace
// context is not in it: see [Event.TraceParent] and [DecodeEvent].
// docs/contract.md §7.3 describes both.
//
// An Event does not change while a Backend or a broker has it, and is safe
// to share between goroutines during that call. A broker's own event may
// refer to the request it came from, which is reused once Publish returns:
// that is one reason a Backend keeps no pointer to an Event (see [Backend]).
type Event struct {
	op op
	id string // a decoded event's; a local one's is made from n
	n  uint64 // a local event's number: its ID is eventIDs.prefix and n
	at time.Time

	trace string // a valid W3C traceparent of the publishing context, or ""

	// op engage
	profile   *gateway.Profile // the fields delivery needs; no userData, no Extra
	expiresAt time.Time

	// op cancel
	cancel *gateway.CancelData

	// op answer
	answer *Disposition

	// op notify
	notify *gateway.Notification
}

type op uint8

const (
	opEngage op = iota + 1
	opCancel
	opAnswer
	opNotify
)

var opNames = [...]string{opEngage: "engage", opCancel: "cancel", opAnswer: "answer", opNotify: "notify"}

// ID returns the event's identifier, unique to the Publish call that made
// it: a Backend may use it to drop duplicates of a publish it retried.
func (e *Event) ID() string {
	if e.id != "" || e.op == 0 {
		return e.id
	}
	return string(e.appendLocalID(nil))
}

// appendLocalID appends the ID of an event made by this process.
func (e *Event) appendLocalID(b []byte) []byte {
	return strconv.AppendUint(append(b, eventIDs.prefix...), e.n, 36)
}

// VisitID returns the visit the event is about, for backends that route or
// shard by visit.
func (e *Event) VisitID() string {
	switch e.op {
	case opEngage:
		return e.profile.VisitID
	case opCancel:
		return e.cancel.VisitID
	case opAnswer:
		return e.answer.VisitID
	case opNotify:
		return e.notify.VisitID
	}
	return ""
}

// eventIDs makes event IDs: a random prefix per process and a counter, so
// that IDs are unique across instances without a random read per event.
var eventIDs struct {
	prefix string
	n      atomic.Uint64
}

func init() {
	var b [8]byte
	rand.Read(b[:])
	eventIDs.prefix = hex.EncodeToString(b[:]) + "-"
}

// newEventNumber numbers a local event; its ID is made from the number
// only when a backend asks, so that the memory backend's events cost no
// string.
func newEventNumber() uint64 { return eventIDs.n.Add(1) }

// engageEvent makes the event of an accepted engage. p is valid. The event
// refers to p instead of copying it: it lives only for the Publish call,
// as neither a Backend nor a broker's deliver keeps an event, and the
// Broker keeps p unchanged until Engage returns. MarshalBinary and the
// brokers read only the fields delivery needs.
func engageEvent(p *gateway.Profile, at, expiresAt time.Time) *Event {
	return &Event{op: opEngage, n: newEventNumber(), at: at, profile: p, expiresAt: expiresAt}
}

// cancelEvent makes the event of an accepted cancel. c is valid.
func cancelEvent(c *gateway.CancelData, at time.Time) *Event {
	x := &struct {
		ev Event
		c  gateway.CancelData
	}{c: gateway.CancelData{InteractionID: c.InteractionID, VisitID: c.VisitID, Reason: c.Reason}}
	x.ev = Event{op: opCancel, n: newEventNumber(), at: at, cancel: &x.c}
	return &x.ev
}

// answerEvent makes the event of a visitor's answer. d is valid.
func answerEvent(d Disposition, at time.Time) *Event {
	x := &struct {
		ev Event
		d  Disposition
	}{d: d}
	x.ev = Event{op: opAnswer, n: newEventNumber(), at: at, answer: &x.d}
	return &x.ev
}

// MarshalBinary encodes e as JSON (see [Event]). It fails only for the
// zero Event.
func (e *Event) MarshalBinary() ([]byte, error) {
	if e.op == 0 {
		return nil, errors.New("push: MarshalBinary of an empty Event")
	}
	b := make([]byte, 0, 512)
	b = append(b, `{"op":"`...)
	b = append(b, opNames[e.op]...)
	b = append(b, `","id":`...)
	if e.id != "" {
		b = jsonscan.AppendString(b, e.id)
	} else {
		b = append(e.appendLocalID(append(b, '"')), '"') // hex, '-' and base 36: nothing to escape
	}
	b = append(b, `,"at":"`...)
	b = e.at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	switch e.op {
	case opEngage:
		b = append(b, `,"expiresAt":"`...)
		b = e.expiresAt.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","profile":`...)
		q := *e.profile
		q.UserData, q.Extra = nil, nil // they stay with the instance that received them
		p, _ := q.MarshalJSON()        // cannot fail
		b = append(b, p...)
	case opCancel:
		b = append(b, `,"cancel":`...)
		c, _ := e.cancel.MarshalJSON() // cannot fail
		b = append(b, c...)
	case opAnswer:
		b = append(b, `,"answer":{"visitID":`...)
		b = jsonscan.AppendString(b, e.answer.VisitID)
		b = append(b, `,"interactionID":`...)
		b = jsonscan.AppendString(b, e.answer.InteractionID)
		b = append(b, `,"result":`...)
		b = jsonscan.AppendString(b, e.answer.Result)
		if e.answer.Channel != "" {
			b = append(b, `,"channel":`...)
			b = jsonscan.AppendString(b, e.answer.Channel)
		}
		b = append(b, '}')
	case opNotify:
		b = append(b, `,"notify":`...)
		n, _ := e.notify.MarshalJSON() // cannot fail
		b = append(b, n...)
	}
	return append(b, '}'), nil
}

// TraceParent returns the W3C traceparent of the request that made the
// event ("00-<trace-id>-<parent-id>-<flags>", see [Observer].TraceParent),
// or "" when it has none. It is not part of [Event.MarshalBinary]'s
// encoding: a Backend that crosses a network carries it beside the
// event's bytes, in the message's headers (contract §7.3), and gives it
// back to [DecodeEvent]. A non-empty result is always a valid version-00
// traceparent, 55 bytes.
func (e *Event) TraceParent() string { return e.trace }

// DecodeEvent makes the event a Backend read from its log: data is
// decoded and checked as [Event.UnmarshalBinary] does, and traceParent is
// what the message carried beside it, the [Event.TraceParent] of the
// published event ("" for none). traceParent comes from a shared log, so
// it is checked strictly: a value that is not a valid W3C traceparent of
// version 00 (55 bytes, lower-case hex, trace and parent IDs not all
// zeros) is dropped, and the event is decoded without one: a bad trace
// context never costs an event. It returns UnmarshalBinary's error.
func DecodeEvent(data []byte, traceParent string) (*Event, error) {
	e := new(Event)
	if err := e.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	if validTraceParent(traceParent) {
		e.trace = traceParent
	}
	return e, nil
}

// errBadEvent is what UnmarshalBinary returns; the cause says why, for logs.
var errBadEvent = errors.New("push: not a valid event")

// UnmarshalBinary decodes an event encoded by [Event.MarshalBinary] and
// checks it as the handler checks a request: strict JSON (no duplicate
// keys), a known op, a valid id and time, and a payload that passes the
// rules of contract §3, §4, §6 or §9 (a notify's id must also be 1–64
// characters of [A-Za-z0-9._:-], as it names the messages' SSE ids). Keys
// it does not know are ignored, so that a newer instance may add some; a
// profile's userData and unknown keys are dropped. An engage must expire after it was made, and within the
// longest expiresIn. Data over [MaxEventBytes] is refused unread.
func (e *Event) UnmarshalBinary(data []byte) error {
	*e = Event{}
	if len(data) > MaxEventBytes {
		return fmt.Errorf("%w: %d bytes, over %d", errBadEvent, len(data), MaxEventBytes)
	}
	if err := e.decode(string(data)); err != nil {
		*e = Event{}
		return fmt.Errorf("%w: %w", errBadEvent, err)
	}
	return nil
}

func (e *Event) decode(text string) error {
	var d jsonscan.Decoder
	if err := d.Reset(text); err != nil {
		return err
	}
	var opName, at, expiresAt, profile, cancel, answer, notify string
	str := func(dst *string) error {
		if d.Peek() != jsonscan.String {
			return errors.New("a string was expected")
		}
		s, err := d.String()
		*dst = s
		return err
	}
	raw := func(dst *string) error {
		if d.Peek() != jsonscan.Object {
			return errors.New("an object was expected")
		}
		s, err := d.Skip()
		*dst = s
		return err
	}
	if d.Peek() != jsonscan.Object {
		return errors.New("not a JSON object")
	}
	err := d.Object(func(key string) error {
		switch key {
		case "op":
			return str(&opName)
		case "id":
			return str(&e.id)
		case "at":
			return str(&at)
		case "expiresAt":
			return str(&expiresAt)
		case "profile":
			return raw(&profile)
		case "cancel":
			return raw(&cancel)
		case "answer":
			return raw(&answer)
		case "notify":
			return raw(&notify)
		}
		_, err := d.Skip()
		return err
	})
	if err == nil {
		err = d.End()
	}
	if err != nil {
		return err
	}
	if e.id == "" || len(e.id) > 64 {
		return errors.New("id must be 1-64 bytes")
	}
	if e.at, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return errors.New("at must be an RFC 3339 time")
	}
	switch opName {
	case "engage":
		e.op = opEngage
		return e.decodeEngage(profile, expiresAt)
	case "cancel":
		e.op = opCancel
		e.cancel = new(gateway.CancelData)
		if err := e.cancel.UnmarshalJSON([]byte(cancel)); err != nil {
			return err
		}
		e.cancel.Extra = nil
		return e.cancel.Validate()
	case "answer":
		e.op = opAnswer
		return e.decodeAnswer(answer)
	case "notify":
		e.op = opNotify
		return e.decodeNotify(notify)
	}
	return errors.New("op must be engage, cancel, answer or notify")
}

// maxExpiresIn is the longest expiresIn, from the tag of Profile.ExpiresIn.
var maxExpiresIn = func() time.Duration {
	n, _ := rules.Max(reflect.TypeFor[gateway.Profile](), "ExpiresIn")
	return time.Duration(n) * time.Second
}()

func (e *Event) decodeEngage(profile, expiresAt string) error {
	p := new(gateway.Profile)
	if err := p.UnmarshalJSON([]byte(profile)); err != nil {
		return err
	}
	p.UserData, p.Extra = nil, nil
	if err := p.Validate(); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, expiresAt)
	if err != nil {
		return errors.New("expiresAt must be an RFC 3339 time")
	}
	if !t.After(e.at) || t.Sub(e.at) > maxExpiresIn+time.Second {
		return errors.New("expiresAt must be after at, within the longest expiresIn")
	}
	e.profile, e.expiresAt = p, t
	return nil
}

func (e *Event) decodeAnswer(text string) error {
	var d jsonscan.Decoder
	if err := d.Reset(text); err != nil {
		return err
	}
	a := new(Disposition)
	fields := map[string]*string{"visitID": &a.VisitID, "interactionID": &a.InteractionID, "result": &a.Result, "channel": &a.Channel}
	err := d.Object(func(key string) error {
		dst, ok := fields[key]
		if !ok {
			_, err := d.Skip()
			return err
		}
		if d.Peek() != jsonscan.String {
			return errors.New(key + " must be a string")
		}
		s, err := d.String()
		*dst = s
		return err
	})
	if err != nil {
		return err
	}
	if visitIDRule.Check(a.VisitID) != nil {
		return errors.New("answer.visitID is invalid")
	}
	if broken, _ := rules.Struct(a); broken != nil {
		return invalidDisposition(broken)
	}
	e.answer = a
	return nil
}

// validTraceParent reports whether s is a W3C traceparent of version 00:
// "00-" 32 hex digits "-" 16 hex digits "-" 2 hex digits, lower case,
// with a trace ID and a span ID that are not all zeros.
func validTraceParent(s string) bool {
	if len(s) != 55 || s[:3] != "00-" || s[35] != '-' || s[52] != '-' {
		return false
	}
	nonZeroHex := func(s string) bool {
		zero := true
		for i := range len(s) {
			c := s[i]
			switch {
			case c == '0':
			case '1' <= c && c <= '9', 'a' <= c && c <= 'f':
				zero = false
			default:
				return false
			}
		}
		return !zero
	}
	return nonZeroHex(s[3:35]) && nonZeroHex(s[36:52]) && (nonZeroHex(s[53:]) || s[53:] == "00")
}
