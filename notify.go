package gateway

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/engagekit/gateway/internal/jsonscan"
	"github.com/engagekit/gateway/internal/rules"
)

// This file is the notify operation of contract §9, GWE's Notification
// API: POST …/notification/notify/{visitID} with a JSON array of messages
// that a [Messenger] pushes to the visit's pages.

// MaxMessageDataBytes is the largest data object of one [Message], in bytes
// of JSON text as it arrives.
const MaxMessageDataBytes = 16 << 10

// paramMessages is the name of the notify parameter in a form, a multipart
// body, a query string or a wrapping JSON object (contract §9.1).
const paramMessages = "messages"

// Message is one message of a notify request (contract §9): data for the
// visit's pages on a named channel, which the page's script hands to the
// handler it registered for the channel (visitor.js: GWE.on). Decode one
// with [json.Unmarshal]; check it with [Notification.Validate].
type Message struct {
	// Page, when set, limits the message to the browser page with this ID;
	// empty sends it to every page of the visit. Optional, with the rules
	// of Profile.PageID (TestNotificationRulesAreProfiles holds the tags
	// equal).
	Page string `json:"page,omitempty" validate:"omitempty,max=128,gweid"`
	// Channel names what the message is for: 1–64 characters of
	// [A-Za-z0-9._-]. Channels that start with "gpe." are GWE's predefined
	// ones (gpe.appendContent). Required.
	Channel string `json:"channel" validate:"required,max=64,msgchannel"`
	// Data is the message's payload, a JSON object as raw text of at most
	// [MaxMessageDataBytes], verbatim. Required.
	Data json.RawMessage `json:"data" validate:"-"`
}

// Notification is a notify request: the messages for one visit, in order.
// A Notification is not safe for concurrent mutation; concurrent reads are
// fine.
type Notification struct {
	// VisitID is the visit whose pages get the messages, from the request's
	// path: the rules of Profile.VisitID. Required.
	VisitID string `json:"visitID" validate:"required,max=128,gweid"`
	// Messages are 1–16 messages.
	Messages []Message `json:"messages" validate:"required,min=1,max=16,dive"`
}

// Messenger is the optional interface of a [Notifier] that serves notify:
// the [Handler] serves …/notification/notify/{visitID} only when its
// Notifier implements it, and otherwise answers 404 NOT_FOUND once the
// request has passed authentication and its parameter has been read. Package push's Broker, [Client] and [Chain] (when one of
// its notifiers does) implement it.
//
// The contract is the [Notifier]'s: Notify is called concurrently, with the
// request's context, once the request has decoded and validated; nil means
// accepted and is answered 200 OK; errors are answered as Engage's are. The
// *Notification belongs to the Messenger only for the call; the strings
// and the Data of its messages may be kept.
type Messenger interface {
	Notify(ctx context.Context, n *Notification) error
}

// messagesKept is how many messages the decoder keeps of an array: one more
// than the tag of Notification.Messages allows.
var messagesKept = func() int {
	if n, ok := rules.Max(reflect.TypeFor[Notification](), "Messages"); ok {
		return n + 1
	}
	return math.MaxInt
}()

// Validate checks n against the rules of contract §9: the validator tags
// above, and that each message's Data is set (rule "required"), a JSON
// object (rule "object") of at most [MaxMessageDataBytes] (rule "max"). It
// returns nil or a VALIDATION [*Fault] listing every broken rule by JSON
// field name ("messages[1].channel").
func (n *Notification) Validate() error {
	var raw []FieldError
	if n != nil {
		raw = dataErrors(n.Messages)
	}
	return validateStruct(paramMessages, n, raw...)
}

// dataErrors checks the Data of each message, in order.
func dataErrors(msgs []Message) []FieldError {
	var fields []FieldError
	for i, m := range msgs {
		field := "messages[" + strconv.Itoa(i) + "].data"
		switch {
		case len(m.Data) == 0:
			fields = append(fields, FieldError{Field: field, Rule: "required", Message: field + " is required"})
		case !isJSON(string(m.Data), true) || string(m.Data) == "null":
			fields = append(fields, FieldError{Field: field, Rule: ruleObject, Message: field + " must be a JSON object"})
		case len(m.Data) > MaxMessageDataBytes:
			fields = append(fields, FieldError{Field: field, Rule: "max", Message: field + " must be at most " + strconv.Itoa(MaxMessageDataBytes) + " bytes long"})
		}
	}
	return fields
}

// The fast path (see fastpath.go): the tags compiled, and the sizes of the
// data objects, which the decoder takes only when they are objects.
var notificationRules = rules.Compile(reflect.TypeFor[Notification]())

func fastValidNotification(n *Notification) bool {
	for _, m := range n.Messages {
		if len(m.Data) == 0 || len(m.Data) > MaxMessageDataBytes {
			return false
		}
	}
	return notificationRules.Valid(n, nil)
}

// UnmarshalJSON decodes a notification object, {"visitID":…,"messages":[…]},
// strictly: one JSON object with no duplicate keys and no other keys. A
// field of the wrong JSON type, or another key, is reported as a VALIDATION
// [*Fault]; null leaves a field empty. It does not apply the rules of
// [Notification.Validate].
func (n *Notification) UnmarshalJSON(data []byte) error {
	*n = Notification{}
	var o objDecoder
	other := false
	err := o.decode(string(data), "notification", func(key string) error {
		switch key {
		case "visitID":
			return o.str(key, &n.VisitID)
		case "messages":
			return o.messages(&n.Messages)
		}
		other = true
		_, err := o.d.Skip()
		return err
	})
	return keysError(err, other, &o, "notification", "notification may hold only visitID and messages")
}

// keysError adds the "keys" rule to the outcome err of a decode that met
// keys it does not know.
func keysError(err error, other bool, o *objDecoder, field, msg string) error {
	if !other || err != nil && !isValidation(err) {
		return err
	}
	o.bad = append(o.bad, FieldError{Field: field, Rule: "keys", Message: msg})
	return invalid(field, o.bad, nil)
}

func isValidation(err error) bool {
	f, ok := err.(*Fault)
	return ok && f.Code == CodeValidation
}

// decodeMessages decodes the notify parameter, a JSON array of messages,
// into n.Messages.
func (n *Notification) decodeMessages(text string) error {
	var o objDecoder
	err := o.d.Reset(text)
	if err == nil {
		if o.d.Peek() != jsonscan.Array {
			return badRequest(paramMessages + " must be a JSON array")
		}
		err = o.messages(&n.Messages)
	}
	if err == nil {
		err = o.d.End()
	}
	if err != nil {
		return syntaxError(paramMessages, err)
	}
	if len(o.bad) > 0 {
		return invalid(paramMessages, o.bad, nil)
	}
	return nil
}

// messages decodes an array of message objects, keeping at most
// messagesKept.
func (o *objDecoder) messages(dst *[]Message) error {
	if o.d.Peek() != jsonscan.Array {
		if isNull, err := o.null(); isNull || err != nil {
			return err
		}
		return o.typeError(paramMessages, "an array of objects")
	}
	list := make([]Message, 0, 1)
	err := o.d.Array(func(i int) error {
		if len(list) >= messagesKept {
			_, err := o.d.Skip()
			return err
		}
		field := "messages[" + strconv.Itoa(i) + "]"
		if o.d.Peek() != jsonscan.Object {
			list = append(list, Message{})
			return o.typeError(field, "an object")
		}
		var m Message
		other := false
		err := o.d.Object(func(key string) error {
			switch key {
			case "page":
				return o.str(field+".page", &m.Page)
			case "channel":
				return o.str(field+".channel", &m.Channel)
			case "data":
				return o.object(field+".data", &m.Data)
			}
			other = true
			_, err := o.d.Skip()
			return err
		})
		if other {
			o.bad = append(o.bad, FieldError{Field: field, Rule: "keys", Message: field + " may hold only page, channel and data"})
		}
		list = append(list, m)
		return err
	})
	*dst = list
	return err
}

// UnmarshalJSON decodes one message object strictly, as
// [Notification.UnmarshalJSON] does.
func (m *Message) UnmarshalJSON(data []byte) error {
	var n Notification
	if err := n.decodeMessages("[" + string(data) + "]"); err != nil {
		return err
	}
	if len(n.Messages) != 1 {
		return badRequest("a message must be one JSON object")
	}
	*m = n.Messages[0]
	return nil
}

// MarshalJSON encodes n as {"visitID":…,"messages":[…]}.
func (n Notification) MarshalJSON() ([]byte, error) {
	return n.appendJSON(make([]byte, 0, 128)), nil
}

func (n *Notification) appendJSON(b []byte) []byte {
	b = append(b, `{"visitID":`...)
	b = appendString(b, n.VisitID)
	b = append(b, `,"messages":`...)
	return append(appendMessages(b, n.Messages), '}')
}

// MarshalJSON encodes m as {"page":…,"channel":…,"data":…}, leaving out an
// empty page and writing empty data as null. Data is emitted as it is;
// json.Marshal rejects it if it is not valid JSON.
func (m Message) MarshalJSON() ([]byte, error) {
	return m.appendJSON(make([]byte, 0, 64+len(m.Data))), nil
}

func (m *Message) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if m.Page != "" {
		b = append(b, `"page":`...)
		b = appendString(b, m.Page)
		b = append(b, ',')
	}
	b = append(b, `"channel":`...)
	b = appendString(b, m.Channel)
	b = append(b, `,"data":`...)
	if len(m.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, m.Data...)
	}
	return append(b, '}')
}

// appendMessages appends msgs as a JSON array: the notify parameter.
func appendMessages(b []byte, msgs []Message) []byte {
	b = append(b, '[')
	for i := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = msgs[i].appendJSON(b)
	}
	return append(b, ']')
}

// notifyPrefix is the path segment before the visitID of a notify request,
// under both path families (/server/data and /backend/data).
const notifyPrefix = "/notification/notify/"

// isNotifyPath reports whether path names a notify request: it ends in
// /notification/notify/{visitID}, with no '/' in the visitID.
func isNotifyPath(path string) bool {
	i := strings.LastIndex(path, notifyPrefix)
	return i >= 0 && strings.IndexByte(path[i+len(notifyPrefix):], '/') < 0
}

// Mount registers h on mux at every path of contract §1 and §9 it serves,
// under both path families: the engage and noengage endpoints
// ([Paths85] and [Paths812], each with a trailing "/") and the notify
// endpoints (/server/data/notification/notify/ and
// /backend/data/notification/notify/). The patterns carry no method, so
// that h answers a GET with its own 405 FAULT. A Notifier that is not a
// [Messenger] has notify answered 404 NOT_FOUND by h. Mount panics, as
// [http.ServeMux.Handle] does, when mux already has one of the patterns.
func (h *Handler) Mount(mux *http.ServeMux) {
	for _, family := range []PathFamily{Paths85, Paths812} {
		mux.Handle(string(family)+"/", h)
		mux.Handle(strings.TrimSuffix(string(family), "/gateway")+notifyPrefix, h)
	}
}

// Notify returns the notify operation as a handler that serves it at any
// path, for routers that match paths themselves: the visitID is the path
// value "visitID" when the router set one ([http.Request.PathValue]), else
// the path's last segment.
func (h *Handler) Notify() http.Handler { return &h.notify }

var errNoNotify = &Fault{Code: CodeNotFound, Message: "this gateway does not serve notify"}

// runNotify is the notify operation (contract §9): decode the messages,
// validate them with the path's visitID, and hand them to the Messenger.
func (h *Handler) runNotify(r *http.Request, text string) (string, error) {
	if h.m == nil {
		return "", errNoNotify
	}
	visitID := r.PathValue("visitID")
	if visitID == "" {
		visitID = r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	}
	n := &Notification{VisitID: visitID}
	if err := n.decodeMessages(text); err != nil || !fastValidNotification(n) {
		if err := checked(err, n.Validate); err != nil {
			return "", err
		}
	}
	if err := h.m.Notify(r.Context(), n); err != nil {
		return "", notifierError(err)
	}
	return "", nil
}
