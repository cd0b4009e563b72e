package gateway

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

// Code is the machine-readable code of a FAULT response (contract §5).
type Code string

// The codes of FAULT responses.
const (
	CodeBadRequest           Code = "BAD_REQUEST"
	CodeValidation           Code = "VALIDATION"
	CodeEngagementInProgress Code = "ENGAGEMENT_IN_PROGRESS"
	CodeUnauthorized         Code = "UNAUTHORIZED"
	CodeForbidden            Code = "FORBIDDEN"
	CodeNotFound             Code = "NOT_FOUND"
	CodeMethodNotAllowed     Code = "METHOD_NOT_ALLOWED"
	CodePayloadTooLarge      Code = "PAYLOAD_TOO_LARGE"
	CodeUnsupportedMediaType Code = "UNSUPPORTED_MEDIA_TYPE"
	CodeUnavailable          Code = "UNAVAILABLE"
	CodeInternal             Code = "INTERNAL"
)

// Sentinel errors, one per condition a caller branches on. Errors returned by
// this package, by [Client] and by well-behaved notifiers match them with
// [errors.Is].
var (
	// ErrBadRequest: the parameter is missing, is not a JSON object, or is
	// not readable (broken JSON, bad encoding or charset).
	ErrBadRequest = errors.New("gateway: bad request")
	// ErrValidation: a field breaks a rule. The error is a [*ValidationError].
	ErrValidation = errors.New("gateway: validation failed")
	// ErrEngagementInProgress: strict mode refused an engage because the
	// visit already has a live invitation for another interaction. Notifiers
	// return it (wrapped or not) to have the handler answer 400
	// ENGAGEMENT_IN_PROGRESS.
	ErrEngagementInProgress = errors.New("gateway: engagement in progress")
	// ErrUnauthorized: authentication is configured and the request fails it.
	ErrUnauthorized = errors.New("gateway: unauthorized")
	// ErrForbidden: the request is authenticated but not allowed, such as a
	// subscription from an origin that is not allowed (package push).
	ErrForbidden = errors.New("gateway: forbidden")
	// ErrNotFound: the path names no operation.
	ErrNotFound = errors.New("gateway: not found")
	// ErrMethodNotAllowed: the method is not POST.
	ErrMethodNotAllowed = errors.New("gateway: method not allowed")
	// ErrPayloadTooLarge: the body is over the limit.
	ErrPayloadTooLarge = errors.New("gateway: payload too large")
	// ErrUnsupportedMediaType: the body's media type is none of contract §2.
	ErrUnsupportedMediaType = errors.New("gateway: unsupported media type")
	// ErrUnavailable: the notifier failed for a while; retrying later may
	// succeed. Notifiers return it, or an [*UnavailableError] to say when,
	// to have the handler answer 503 with Retry-After.
	ErrUnavailable = errors.New("gateway: temporarily unavailable")
)

// fault is one row of the table that maps errors to responses.
type fault struct {
	err     error
	code    Code
	status  int
	message string // fixed, safe to show
}

// faults is the one table from errors to FAULT responses; classify reads
// it top to bottom, so a more specific row comes first.
var faults = [...]fault{
	{ErrValidation, CodeValidation, http.StatusBadRequest, "request is invalid"},
	{ErrEngagementInProgress, CodeEngagementInProgress, http.StatusBadRequest, "the visit already has a live invitation"},
	{ErrBadRequest, CodeBadRequest, http.StatusBadRequest, "request is malformed"},
	{ErrUnauthorized, CodeUnauthorized, http.StatusUnauthorized, "authentication required"},
	{ErrForbidden, CodeForbidden, http.StatusForbidden, "forbidden"},
	{ErrNotFound, CodeNotFound, http.StatusNotFound, "no such operation"},
	{ErrMethodNotAllowed, CodeMethodNotAllowed, http.StatusMethodNotAllowed, "method not allowed; use POST"},
	{ErrPayloadTooLarge, CodePayloadTooLarge, http.StatusRequestEntityTooLarge, "request body is too large"},
	{ErrUnsupportedMediaType, CodeUnsupportedMediaType, http.StatusUnsupportedMediaType, "unsupported media type"},
	{ErrUnavailable, CodeUnavailable, http.StatusServiceUnavailable, "temporarily unavailable; retry later"},
}

var internalFault = fault{nil, CodeInternal, http.StatusInternalServerError, "internal error"}

// classify returns the table row for err: the first whose sentinel err
// matches, or the INTERNAL row.
func classify(err error) fault {
	for _, f := range faults {
		if errors.Is(err, f.err) {
			return f
		}
	}
	return internalFault
}

// sentinelFor returns the sentinel error of a FAULT code, or nil for
// INTERNAL and unknown codes.
func sentinelFor(c Code) error {
	for _, f := range faults {
		if f.code == c {
			return f.err
		}
	}
	return nil
}

// FieldError names one broken rule: the field by its JSON path
// ("channels[1]", "invitation.url"), the rule by its name ("required",
// "max", "gweid", "type", …) and a message in English. None of it quotes the
// field's value.
type FieldError struct {
	Field   string `json:"field"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// ValidationError reports the fields of an ixnProfile or cancelData that
// break the rules of the contract. It matches [ErrValidation] and unwraps to
// the validator's [validator.ValidationErrors] when the validator found the
// fault (type errors found while decoding have no such cause).
type ValidationError struct {
	// Object is the parameter's name: "ixnProfile" or "cancelData".
	Object string
	// Fields lists the broken rules in field order; it is never empty.
	Fields []FieldError
	cause  error
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("gateway: ")
	b.WriteString(e.Object)
	b.WriteString(" is invalid:")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteByte(' ')
		b.WriteString(f.Message)
	}
	return b.String()
}

// Is reports whether target is [ErrValidation].
func (e *ValidationError) Is(target error) bool { return target == ErrValidation }

// Unwrap returns the validator's errors, or nil.
func (e *ValidationError) Unwrap() error { return e.cause }

// RequestError is a request the handler could not read. Err is the sentinel
// it matches ([ErrBadRequest], [ErrPayloadTooLarge], [ErrUnsupportedMediaType],
// [ErrNotFound], [ErrMethodNotAllowed]); Message says why in words that never
// quote the input.
type RequestError struct {
	Err     error
	Message string
}

func (e *RequestError) Error() string { return "gateway: " + e.Message }

// Unwrap returns e.Err.
func (e *RequestError) Unwrap() error { return e.Err }

// UnavailableError is a temporary failure of a notifier: the handler answers
// 503 UNAVAILABLE with a Retry-After of RetryAfter (rounded up to whole
// seconds; zero means the handler's default). It matches [ErrUnavailable].
type UnavailableError struct {
	RetryAfter time.Duration
	Err        error // the cause, for logs; may be nil
}

func (e *UnavailableError) Error() string {
	if e.Err == nil {
		return ErrUnavailable.Error()
	}
	return ErrUnavailable.Error() + ": " + e.Err.Error()
}

// Is reports whether target is [ErrUnavailable].
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns e.Err.
func (e *UnavailableError) Unwrap() error { return e.Err }

// UnauthorizedError is a failed authentication. When Challenge is set, the
// handler sends it as the WWW-Authenticate header. It matches
// [ErrUnauthorized].
type UnauthorizedError struct {
	Challenge string
	Err       error // the cause, for logs; may be nil
}

func (e *UnauthorizedError) Error() string {
	if e.Err == nil {
		return ErrUnauthorized.Error()
	}
	return ErrUnauthorized.Error() + ": " + e.Err.Error()
}

// Is reports whether target is [ErrUnauthorized].
func (e *UnauthorizedError) Is(target error) bool { return target == ErrUnauthorized }

// Unwrap returns e.Err.
func (e *UnauthorizedError) Unwrap() error { return e.Err }
