package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Code is the machine-readable code of a FAULT response (contract §5).
type Code string

// The codes of FAULT responses, with the HTTP status of each (from the one
// table, faultTable). The Handler and [WriteError] answer a code they do not
// know 500 INTERNAL.
const (
	CodeBadRequest           Code = "BAD_REQUEST"            // 400
	CodeValidation           Code = "VALIDATION"             // 400
	CodeEngagementInProgress Code = "ENGAGEMENT_IN_PROGRESS" // 400
	CodeEngagementSuppressed Code = "ENGAGEMENT_SUPPRESSED"  // 400
	CodeUnauthorized         Code = "UNAUTHORIZED"           // 401
	CodeForbidden            Code = "FORBIDDEN"              // 403
	CodeNotFound             Code = "NOT_FOUND"              // 404
	CodeMethodNotAllowed     Code = "METHOD_NOT_ALLOWED"     // 405
	CodePayloadTooLarge      Code = "PAYLOAD_TOO_LARGE"      // 413
	CodeUnsupportedMediaType Code = "UNSUPPORTED_MEDIA_TYPE" // 415
	CodeUnavailable          Code = "UNAVAILABLE"            // 503
	CodeInternal             Code = "INTERNAL"               // 500
)

// faultRow is one row of the table from codes to responses.
type faultRow struct {
	code    Code
	status  int
	message string // shown when the Fault has no Message of its own
}

// faultTable is the one place a code gets its HTTP status and its default
// message; the comments on the Code constants show its statuses, and a test
// holds them to it.
var faultTable = [...]faultRow{
	{CodeBadRequest, http.StatusBadRequest, "request is malformed"},
	{CodeValidation, http.StatusBadRequest, "request is invalid"},
	{CodeEngagementInProgress, http.StatusBadRequest, "the visit already has a live invitation"},
	{CodeEngagementSuppressed, http.StatusBadRequest, "an offer-gating rule suppressed the engagement"},
	{CodeUnauthorized, http.StatusUnauthorized, "authentication required"},
	{CodeForbidden, http.StatusForbidden, "forbidden"},
	{CodeNotFound, http.StatusNotFound, "no such operation"},
	{CodeMethodNotAllowed, http.StatusMethodNotAllowed, "method not allowed; use POST"},
	{CodePayloadTooLarge, http.StatusRequestEntityTooLarge, "request body is too large"},
	{CodeUnsupportedMediaType, http.StatusUnsupportedMediaType, "unsupported media type"},
	{CodeUnavailable, http.StatusServiceUnavailable, "temporarily unavailable; retry later"},
	{CodeInternal, http.StatusInternalServerError, "internal error"},
}

// row returns the table row of c; an unknown code gets INTERNAL's, which
// is the last.
func row(c Code) faultRow {
	for _, r := range faultTable {
		if r.code == c {
			return r
		}
	}
	return faultTable[len(faultTable)-1]
}

// Fault is the one error type of the package: a FAULT answer, as the
// [Handler] writes it and as the [Client] reads it, and every refusal on
// the way (a request the handler cannot read, a broken rule, a failed
// authentication, a notifier that is busy).
//
// Only Code, Message and Fields ever reach the sender, with Challenge and
// RetryAfter as headers; Err and the text of Error never do, so put what
// is for logs in Err. The HTTP status comes from Code through one table
// (see the [Code] constants).
//
// # Matching
//
// The sentinel errors ([ErrValidation], [ErrEngagementInProgress], …) are
// Faults that hold only a Code, and [errors.Is] matches a Fault to the
// sentinel of its code, on the server as on the client:
//
//	errors.Is(&Fault{Code: CodeUnavailable, RetryAfter: 5 * time.Second}, ErrUnavailable) // true
//
// The sentinels are shared values: never change their fields. To add a
// message, a retry delay or a cause, make a Fault of your own with the
// sentinel's Code. [errors.As] with a *Fault finds the first Fault in a
// chain, a wrapped sentinel too.
type Fault struct {
	// Code names the fault. The zero Code is only found in a Fault that a
	// [Client] returns for an answer that was not a FAULT (a proxy's error
	// page, say). Such a Fault counts as UNAVAILABLE when Status is 502,
	// 503 or 504, as the Client treats those as temporary: it matches
	// [ErrUnavailable] and is answered 503. Otherwise it matches no sentinel
	// and is answered 500 INTERNAL.
	Code Code

	// Message is the sentence shown to the sender, in words that never
	// quote the input; internal detail goes in Err. Empty means the table's
	// message for Code. (The Handler shows a notifier's Fault only when its
	// code may pass through: see [Notifier].)
	Message string

	// Fields lists the broken rules of a VALIDATION fault, in field order.
	// The Handler writes them for VALIDATION only.
	Fields []FieldError

	// Reason names the rule that refused an ENGAGEMENT_SUPPRESSED engage
	// ("cooldown", "window", "gap", "quiet-hours", "unavailable": see
	// package push's Gate), written as "reason" in the FAULT answer and
	// set by the [Client] from it. It names a rule, never input. The
	// Handler writes it for ENGAGEMENT_SUPPRESSED only.
	Reason string

	// RetryAfter is, on the server, the Retry-After of an UNAVAILABLE
	// answer (rounded up to whole seconds; zero means the Handler's
	// default). The Client sets it from the server's Retry-After header.
	RetryAfter time.Duration

	// Challenge is, on the server, the WWW-Authenticate header of an
	// UNAUTHORIZED answer; empty sends none. The Client sets it from the
	// server's header.
	Challenge string

	// Status is the HTTP status the server answered, set by the [Client].
	// The Handler and [WriteError] ignore it and derive the status from
	// Code, with one exception: a VALIDATION or BAD_REQUEST Fault that a
	// notifier returns passes through to the sender only when Status is set,
	// that is, when it is an upstream server's verdict on the payload.
	Status int

	// Err is the cause, for logs: [Fault.Unwrap] returns it, and it is
	// never shown to the sender. It may be nil.
	Err error
}

// Error describes f for logs: code, message, reason, broken rules and cause, and
// for a Client's Fault the status the server answered. It is never sent to
// a sender; [Fault.Message] is.
func (f *Fault) Error() string {
	var b strings.Builder
	b.WriteString("gateway: ")
	if f.Status != 0 {
		b.WriteString("server answered ")
		b.WriteString(strconv.Itoa(f.Status))
	}
	switch {
	case f.Code == "" && f.Status != 0:
		b.WriteString(" without a FAULT")
	default:
		if f.Status != 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(f.code()))
		b.WriteString(": ")
		b.WriteString(f.message())
		if f.Reason != "" {
			b.WriteString(" (")
			b.WriteString(f.Reason)
			b.WriteByte(')')
		}
	}
	for i, fe := range f.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(fe.Message)
	}
	if f.Err != nil {
		b.WriteString(": ")
		b.WriteString(f.Err.Error())
	}
	return b.String()
}

// Unwrap returns f.Err.
func (f *Fault) Unwrap() error { return f.Err }

// Is reports whether target is a Fault (a sentinel, typically) with f's
// code. A Fault of zero Code from a Client matches [ErrUnavailable] when
// its Status is 502, 503 or 504.
func (f *Fault) Is(target error) bool {
	t, ok := target.(*Fault)
	return ok && t.Code != "" && t.Code == f.code()
}

// code is the code f is answered and matched with: Code, or for a Client's
// answer that was not a FAULT, UNAVAILABLE when the status says temporary
// and INTERNAL otherwise.
func (f *Fault) code() Code {
	if f.Code != "" {
		return f.Code
	}
	switch f.Status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return CodeUnavailable
	}
	return CodeInternal
}

// message is the sentence shown to the sender.
func (f *Fault) message() string {
	if f.Message != "" {
		return f.Message
	}
	return row(f.code()).message
}

// Sentinel errors, one per condition a caller branches on. Each is a
// [*Fault] that holds only its Code; any Fault of that code matches it with
// [errors.Is], whether the Handler, a notifier, package push or a [Client]
// made it. Never change their fields.
var (
	// ErrBadRequest: the parameter is missing, is not a JSON object, or is
	// not readable (broken JSON, bad encoding or charset).
	ErrBadRequest = &Fault{Code: CodeBadRequest}
	// ErrValidation: a field breaks a rule; the Fault's Fields say which.
	ErrValidation = &Fault{Code: CodeValidation}
	// ErrEngagementInProgress: strict mode refused an engage because the
	// visit already has a live invitation for another interaction. Notifiers
	// return it (wrapped or not) to have the handler answer 400
	// ENGAGEMENT_IN_PROGRESS.
	ErrEngagementInProgress = &Fault{Code: CodeEngagementInProgress}
	// ErrEngagementSuppressed: an offer-gating rule refused an engage (a
	// cool-down after a rejection, too many invitations, quiet hours, no
	// agent available); the Fault's Reason names the rule. Notifiers
	// return a Fault of this code to have the handler answer 400
	// ENGAGEMENT_SUPPRESSED with its reason.
	ErrEngagementSuppressed = &Fault{Code: CodeEngagementSuppressed}
	// ErrUnauthorized: authentication is configured and the request fails it.
	ErrUnauthorized = &Fault{Code: CodeUnauthorized}
	// ErrForbidden: the request is authenticated but not allowed, such as a
	// subscription from an origin that is not allowed (package push).
	ErrForbidden = &Fault{Code: CodeForbidden}
	// ErrNotFound: the path names no operation.
	ErrNotFound = &Fault{Code: CodeNotFound}
	// ErrMethodNotAllowed: the method is not POST.
	ErrMethodNotAllowed = &Fault{Code: CodeMethodNotAllowed}
	// ErrPayloadTooLarge: the body is over the limit.
	ErrPayloadTooLarge = &Fault{Code: CodePayloadTooLarge}
	// ErrUnsupportedMediaType: the body's media type is none of contract §2.
	ErrUnsupportedMediaType = &Fault{Code: CodeUnsupportedMediaType}
	// ErrUnavailable: the notifier failed for a while; retrying later may
	// succeed. Notifiers return it, or a Fault of code UNAVAILABLE with a
	// RetryAfter to say when, to have the handler answer 503 with
	// Retry-After.
	ErrUnavailable = &Fault{Code: CodeUnavailable}
)

// FieldError names one broken rule: the field by its JSON path
// ("channels[1]", "invitation.url"), the rule by its name ("required",
// "max", "gweid", "type", …) and a message in English. None of it quotes the
// field's value.
type FieldError struct {
	Field   string `json:"field"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// invalid is the VALIDATION Fault of object (ixnProfile, cancelData, …):
// its fields, and the validator's errors as the cause when it found them.
func invalid(object string, fields []FieldError, cause error) *Fault {
	return &Fault{Code: CodeValidation, Message: object + " is invalid", Fields: fields, Err: cause}
}

// badRequest is a BAD_REQUEST Fault that says why in msg.
func badRequest(msg string) *Fault { return &Fault{Code: CodeBadRequest, Message: msg} }
