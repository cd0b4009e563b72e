package gateway_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

// sentinels lists every sentinel error with its code.
var sentinels = []struct {
	code gateway.Code
	err  error
}{
	{gateway.CodeBadRequest, gateway.ErrBadRequest},
	{gateway.CodeValidation, gateway.ErrValidation},
	{gateway.CodeEngagementInProgress, gateway.ErrEngagementInProgress},
	{gateway.CodeEngagementSuppressed, gateway.ErrEngagementSuppressed},
	{gateway.CodeUnauthorized, gateway.ErrUnauthorized},
	{gateway.CodeForbidden, gateway.ErrForbidden},
	{gateway.CodeNotFound, gateway.ErrNotFound},
	{gateway.CodeMethodNotAllowed, gateway.ErrMethodNotAllowed},
	{gateway.CodePayloadTooLarge, gateway.ErrPayloadTooLarge},
	{gateway.CodeUnsupportedMediaType, gateway.ErrUnsupportedMediaType},
	{gateway.CodeUnavailable, gateway.ErrUnavailable},
}

// matched returns the codes of the sentinels err matches.
func matched(err error) []gateway.Code {
	var codes []gateway.Code
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			codes = append(codes, s.code)
		}
	}
	return codes
}

// TestFaultMatchesTheSentinelOfItsCode: a Fault matches the one sentinel of
// its code, however it was made and wrapped, and nothing else.
func TestFaultMatchesTheSentinelOfItsCode(t *testing.T) {
	t.Parallel()
	for _, s := range sentinels {
		t.Run("a Fault of code "+string(s.code)+" with data and a cause", func(t *testing.T) {
			t.Parallel()
			f := &gateway.Fault{Code: s.code, Message: "m", RetryAfter: time.Second, Err: errors.New("cause")}
			if diff := cmp.Diff([]gateway.Code{s.code}, matched(f)); diff != "" {
				t.Errorf("matched (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]gateway.Code{s.code}, matched(fmt.Errorf("wrapped: %w", f))); diff != "" {
				t.Errorf("wrapped, matched (-want +got):\n%s", diff)
			}
		})
	}
	for _, tc := range []struct {
		name string
		err  error
		want []gateway.Code
	}{
		{"a wrapped sentinel", fmt.Errorf("visit busy: %w", gateway.ErrEngagementInProgress), []gateway.Code{gateway.CodeEngagementInProgress}},
		{"a plain error", errors.New("boom"), nil},
		{"INTERNAL", &gateway.Fault{Code: gateway.CodeInternal}, nil},
		{"a code the package does not know", &gateway.Fault{Code: "OFFER_DECLINED", Status: 400}, nil},
		{"a Client's 502 without a FAULT", &gateway.Fault{Status: 502}, []gateway.Code{gateway.CodeUnavailable}},
		{"a Client's 503 without a FAULT", &gateway.Fault{Status: 503}, []gateway.Code{gateway.CodeUnavailable}},
		{"a Client's 504 without a FAULT", &gateway.Fault{Status: 504}, []gateway.Code{gateway.CodeUnavailable}},
		{"a Client's 404 without a FAULT", &gateway.Fault{Status: 404}, nil},
		{"a cause matching another sentinel", &gateway.Fault{Code: gateway.CodeInternal, Err: gateway.ErrBadRequest}, []gateway.Code{gateway.CodeBadRequest}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, matched(tc.err)); diff != "" {
				t.Errorf("matched (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFaultErrorIsForLogs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		f    *gateway.Fault
		want string
	}{
		{"a sentinel", gateway.ErrEngagementInProgress, "gateway: ENGAGEMENT_IN_PROGRESS: the visit already has a live invitation"},
		{"a suppressed engage with its reason", &gateway.Fault{Code: gateway.CodeEngagementSuppressed, Reason: "cooldown"}, "gateway: ENGAGEMENT_SUPPRESSED: an offer-gating rule suppressed the engagement (cooldown)"},
		{"a server's fault with a cause", &gateway.Fault{Code: gateway.CodeUnavailable, Err: errors.New("nats down")},
			"gateway: UNAVAILABLE: temporarily unavailable; retry later: nats down"},
		{"a validation fault", &gateway.Fault{Code: gateway.CodeValidation, Message: "ixnProfile is invalid",
			Fields: []gateway.FieldError{{Message: "visitID is required"}, {Message: "channels is required"}}},
			"gateway: VALIDATION: ixnProfile is invalid: visitID is required; channels is required"},
		{"a Client's FAULT", &gateway.Fault{Status: 400, Code: gateway.CodeBadRequest, Message: "ixnProfile is missing"},
			"gateway: server answered 400 BAD_REQUEST: ixnProfile is missing"},
		{"a Client's answer that is no FAULT", &gateway.Fault{Status: 404}, "gateway: server answered 404 without a FAULT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.f.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestWriteError: what a Fault, or any error, becomes on the wire. Only
// Code, Message, Fields and the headers are shown; Err and Error() never.
func TestWriteError(t *testing.T) {
	t.Parallel()
	secret := errors.New("db password wrong at 10.0.0.7")
	fields := []gateway.FieldError{{Field: "channel", Rule: "offered", Message: "channel must be one of the invitation's channels"}}
	for _, tc := range []struct {
		name    string
		err     error
		preset  http.Header // set before WriteError
		status  int
		body    string
		headers http.Header
	}{
		{name: "a plain error is a generic 500", err: secret, status: 500,
			body: `{"status":"FAULT","code":"INTERNAL","message":"internal error"}`},
		{name: "a sentinel gets its code's message", err: gateway.ErrForbidden, status: 403,
			body: `{"status":"FAULT","code":"FORBIDDEN","message":"forbidden"}`},
		{name: "a Fault's Message is shown, its cause never", err: &gateway.Fault{Code: gateway.CodeNotFound, Message: "no such invitation", Err: secret}, status: 404,
			body: `{"status":"FAULT","code":"NOT_FOUND","message":"no such invitation"}`},
		{name: "a wrapped Fault", err: fmt.Errorf("push: %w", &gateway.Fault{Code: gateway.CodeBadRequest, Message: "pageID is bad"}), status: 400,
			body: `{"status":"FAULT","code":"BAD_REQUEST","message":"pageID is bad"}`},
		{name: "fields for VALIDATION", err: &gateway.Fault{Code: gateway.CodeValidation, Message: "disposition is invalid", Fields: fields}, status: 400,
			body: `{"status":"FAULT","code":"VALIDATION","message":"disposition is invalid","fields":[{"field":"channel","rule":"offered","message":"channel must be one of the invitation's channels"}]}`},
		{name: "no fields for another code", err: &gateway.Fault{Code: gateway.CodeBadRequest, Message: "bad", Fields: fields}, status: 400,
			body: `{"status":"FAULT","code":"BAD_REQUEST","message":"bad"}`},
		{name: "a code the table does not know is a generic 500", err: &gateway.Fault{Code: "TEAPOT", Message: "short and stout"}, status: 500,
			body: `{"status":"FAULT","code":"INTERNAL","message":"internal error"}`},
		{name: "the Status field is ignored", err: &gateway.Fault{Code: gateway.CodeNotFound, Status: 200}, status: 404,
			body: `{"status":"FAULT","code":"NOT_FOUND","message":"no such operation"}`},
		{name: "Retry-After from the Fault, rounded up", err: &gateway.Fault{Code: gateway.CodeUnavailable, RetryAfter: 4100 * time.Millisecond}, status: 503,
			body: `{"status":"FAULT","code":"UNAVAILABLE","message":"temporarily unavailable; retry later"}`, headers: http.Header{"Retry-After": {"5"}}},
		{name: "Retry-After by default", err: gateway.ErrUnavailable, status: 503,
			body: `{"status":"FAULT","code":"UNAVAILABLE","message":"temporarily unavailable; retry later"}`, headers: http.Header{"Retry-After": {"1"}}},
		{name: "the challenge of UNAUTHORIZED", err: &gateway.Fault{Code: gateway.CodeUnauthorized, Challenge: `Bearer realm="push"`}, status: 401,
			body: `{"status":"FAULT","code":"UNAUTHORIZED","message":"authentication required"}`, headers: http.Header{"Www-Authenticate": {`Bearer realm="push"`}}},
		{name: "Allow by default", err: gateway.ErrMethodNotAllowed, status: 405,
			body: `{"status":"FAULT","code":"METHOD_NOT_ALLOWED","message":"method not allowed; use POST"}`, headers: http.Header{"Allow": {"POST, OPTIONS"}}},
		{name: "an Allow the caller set is kept", err: &gateway.Fault{Code: gateway.CodeMethodNotAllowed, Message: "method not allowed; use GET"},
			preset: http.Header{"Allow": {"GET, OPTIONS"}}, status: 405,
			body: `{"status":"FAULT","code":"METHOD_NOT_ALLOWED","message":"method not allowed; use GET"}`, headers: http.Header{"Allow": {"GET, OPTIONS"}}},
		{name: "a Client's answer without a FAULT, relayed: 503", err: &gateway.Fault{Status: 503}, status: 503,
			body: `{"status":"FAULT","code":"UNAVAILABLE","message":"temporarily unavailable; retry later"}`, headers: http.Header{"Retry-After": {"1"}}},
		{name: "a Client's answer without a FAULT, relayed: 404", err: &gateway.Fault{Status: 404}, status: 500,
			body: `{"status":"FAULT","code":"INTERNAL","message":"internal error"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			for k, v := range tc.preset {
				w.Header()[k] = v
			}
			gateway.WriteError(w, tc.err)
			if w.Code != tc.status {
				t.Errorf("status = %d, want %d", w.Code, tc.status)
			}
			if diff := cmp.Diff(tc.body+"\n", w.Body.String()); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			for k, v := range tc.headers {
				if diff := cmp.Diff(v, w.Header()[k]); diff != "" {
					t.Errorf("header %s (-want +got):\n%s", k, diff)
				}
			}
			if strings.Contains(w.Body.String(), "10.0.0.7") {
				t.Errorf("the cause was shown: %s", w.Body)
			}
		})
	}
}

// TestNotifierFaults: which Faults a notifier may have the handler answer
// with, and which become 500.
func TestNotifierFaults(t *testing.T) {
	t.Parallel()
	fields := []gateway.FieldError{{Field: "visitID", Rule: "max", Message: "visitID must be at most 40 characters long"}}
	for _, tc := range []struct {
		name   string
		err    error
		status int
		want   response
	}{
		{"its own VALIDATION is its bug: 500", &gateway.Fault{Code: gateway.CodeValidation, Message: "mine", Fields: fields}, 500,
			response{Status: "FAULT", Code: "INTERNAL", Message: "internal error"}},
		{"an upstream server's VALIDATION passes through", &gateway.Fault{Status: 400, Code: gateway.CodeValidation, Message: "ixnProfile is invalid", Fields: fields}, 400,
			response{Status: "FAULT", Code: "VALIDATION", Message: "ixnProfile is invalid", Fields: fields}},
		{"an upstream server's BAD_REQUEST passes through", &gateway.Fault{Status: 400, Code: gateway.CodeBadRequest, Message: "ixnProfile is missing"}, 400,
			response{Status: "FAULT", Code: "BAD_REQUEST", Message: "ixnProfile is missing"}},
		{"an upstream server's UNAUTHORIZED is a 500", &gateway.Fault{Status: 401, Code: gateway.CodeUnauthorized, Message: "authentication required"}, 500,
			response{Status: "FAULT", Code: "INTERNAL", Message: "internal error"}},
		{"a proxy's 502 upstream is UNAVAILABLE", &gateway.Fault{Status: 502}, 503,
			response{Status: "FAULT", Code: "UNAVAILABLE", Message: "temporarily unavailable; retry later"}},
		{"a proxy's 404 upstream is a 500", &gateway.Fault{Status: 404}, 500,
			response{Status: "FAULT", Code: "INTERNAL", Message: "internal error"}},
		{"UNAVAILABLE with a Message of its own", fmt.Errorf("relay: %w", &gateway.Fault{Code: gateway.CodeUnavailable, Message: "try again in a minute"}), 503,
			response{Status: "FAULT", Code: "UNAVAILABLE", Message: "try again in a minute"}},
		{"an INTERNAL Fault's Message is not shown", &gateway.Fault{Code: gateway.CodeInternal, Message: "db password wrong"}, 500,
			response{Status: "FAULT", Code: "INTERNAL", Message: "internal error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := gateway.NewHandler(&recorder{err: tc.err}, nil)
			w := do(t, h, "POST", "/gateway/engage", "application/json", profileJSON)
			if w.Code != tc.status {
				t.Errorf("status = %d, want %d", w.Code, tc.status)
			}
			if diff := cmp.Diff(tc.want, decode(t, w)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCodeCommentsShowTheTable: the status written beside each Code
// constant in errors.go is the one WriteError answers with.
func TestCodeCommentsShowTheTable(t *testing.T) {
	t.Parallel()
	file, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, decl := range file.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if vs.Comment == nil || len(vs.Values) != 1 {
				continue
			}
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok {
				continue
			}
			code, _ := strconv.Unquote(lit.Value)
			w := httptest.NewRecorder()
			gateway.WriteError(w, &gateway.Fault{Code: gateway.Code(code)})
			if got, want := strconv.Itoa(w.Code), strings.TrimSpace(vs.Comment.Text()); got != want {
				t.Errorf("%s: the comment says %s, WriteError answers %s", vs.Names[0].Name, want, got)
			}
			seen++
		}
	}
	if seen != 12 {
		t.Errorf("found %d commented codes, want 12", seen)
	}
}
