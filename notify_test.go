package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

// messenger is a recorder that serves notify too.
type messenger struct {
	recorder
	notified []gateway.Notification
}

var _ gateway.Messenger = (*messenger)(nil)

func (m *messenger) Notify(_ context.Context, n *gateway.Notification) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.notified = append(m.notified, *n)
	return nil
}

const (
	notifyPath = "/server/data/notification/notify/v-1"
	oneMessage = `[{"page":"p-1","channel":"gpe.appendContent","data":{"url":"/offer.html","container":"#offers"}}]`
)

var wantMessage = gateway.Message{Page: "p-1", Channel: "gpe.appendContent", Data: json.RawMessage(`{"url":"/offer.html","container":"#offers"}`)}

// many returns n messages on channel c with empty data.
func many(n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat(`{"channel":"c","data":{}},`, n), ",") + "]"
}

// TestNotifyEncodings: the notify parameter, the JSON array of messages,
// arrives in every encoding of contract §2 under both path families, and
// the Messenger gets the same Notification.
func TestNotifyEncodings(t *testing.T) {
	t.Parallel()
	mpType, mpBody := multipartBody(t, map[string]string{"messages": oneMessage})
	for _, tc := range []struct {
		name, path, contentType, body string
	}{
		{"a bare JSON array, as GWE sends it", notifyPath, "application/json", oneMessage},
		{"a bare JSON array under the 8.1.2 family", "/backend/data/notification/notify/v-1", "application/json; charset=utf-8", oneMessage},
		{"a bare JSON array under any prefix", "/gwe/notification/notify/v-1", "application/json", oneMessage},
		{"a JSON object that holds the array", notifyPath, "application/json", `{"messages":` + oneMessage + `}`},
		{"a JSON object that holds the array as text", notifyPath, "application/json", `{"messages":` + quoted(oneMessage) + `}`},
		{"a form parameter", notifyPath, "application/x-www-form-urlencoded", "messages=" + url.QueryEscape(oneMessage)},
		{"a query parameter", notifyPath + "?messages=" + url.QueryEscape(oneMessage), "", ""},
		{"a multipart part", notifyPath, mpType, mpBody},
		{"a bare array without a media type", notifyPath, "", " \n" + oneMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := &messenger{}
			w := do(t, gateway.NewHandler(m, nil), http.MethodPost, tc.path, tc.contentType, tc.body)
			if diff := cmp.Diff(response{Status: "OK"}, decode(t, w)); diff != "" || w.Code != http.StatusOK {
				t.Fatalf("%d (-want +got):\n%s", w.Code, diff)
			}
			want := []gateway.Notification{{VisitID: "v-1", Messages: []gateway.Message{wantMessage}}}
			if diff := cmp.Diff(want, m.notified); diff != "" {
				t.Errorf("Notification (-want +got):\n%s", diff)
			}
		})
	}
}

func quoted(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestNotifyRefusals: every kind of bad request gets its FAULT, and the
// Messenger is not called.
func TestNotifyRefusals(t *testing.T) {
	t.Parallel()
	big := `{"x":"` + strings.Repeat("y", gateway.MaxMessageDataBytes-7) + `"}` // one byte over
	for _, tc := range []struct {
		name, method, path, contentType, body string
		n                                     gateway.Notifier // nil: a messenger
		opts                                  *gateway.Options
		header                                http.Header
		status                                int
		code                                  string
		fields                                []string // "field rule"
	}{
		{name: "GET", method: "GET", status: 405, code: "METHOD_NOT_ALLOWED"},
		{name: "a notifier that is not a Messenger", n: &recorder{}, status: 404, code: "NOT_FOUND"},
		{name: "a path with a segment after the visitID", path: notifyPath + "/x", status: 404, code: "NOT_FOUND"},
		{name: "no visitID", path: "/server/data/notification/notify/", status: 400, code: "VALIDATION", fields: []string{"visitID required"}},
		{name: "a visitID of other characters", path: "/server/data/notification/notify/v%21", status: 400, code: "VALIDATION", fields: []string{"visitID gweid"}},
		{name: "a visitID too long", path: "/server/data/notification/notify/" + strings.Repeat("v", 129), status: 400, code: "VALIDATION", fields: []string{"visitID max"}},
		{name: "broken JSON", body: `[{"channel":`, status: 400, code: "BAD_REQUEST"},
		{name: "a message object, not an array", body: `{"channel":"c","data":{}}`, status: 400, code: "BAD_REQUEST"},
		{name: "messages that are not an array", body: `{"messages":{"channel":"c"}}`, status: 400, code: "BAD_REQUEST"},
		{name: "a JSON object with messages and more", body: `{"messages":[],"x":1}`, status: 400, code: "BAD_REQUEST"},
		{name: "no messages at all", contentType: "application/x-www-form-urlencoded", body: "x=1", status: 400, code: "BAD_REQUEST"},
		{name: "an empty array", body: `[]`, status: 400, code: "VALIDATION", fields: []string{"messages min"}},
		{name: "null", body: `{"messages":null}`, status: 400, code: "BAD_REQUEST"},
		{name: "seventeen messages", body: many(17), status: 400, code: "VALIDATION", fields: []string{"messages max"}},
		{name: "a message that is not an object", body: `[1]`, status: 400, code: "VALIDATION", fields: []string{"messages[0] type", "messages[0].channel required", "messages[0].data required"}},
		{name: "a message without channel", body: `[{"data":{}}]`, status: 400, code: "VALIDATION", fields: []string{"messages[0].channel required"}},
		{name: "a channel of other characters", body: `[{"channel":"a b","data":{}}]`, status: 400, code: "VALIDATION", fields: []string{"messages[0].channel msgchannel"}},
		{name: "a channel too long", body: `[{"channel":"` + strings.Repeat("c", 65) + `","data":{}}]`, status: 400, code: "VALIDATION", fields: []string{"messages[0].channel max"}},
		{name: "a channel that is a number", body: `[{"channel":1,"data":{}}]`, status: 400, code: "VALIDATION", fields: []string{"messages[0].channel type"}},
		{name: "a page of other characters", body: `[{"page":"p/1","channel":"c","data":{}}]`, status: 400, code: "VALIDATION", fields: []string{"messages[0].page gweid"}},
		{name: "a message without data", body: `[{"channel":"c"}]`, status: 400, code: "VALIDATION", fields: []string{"messages[0].data required"}},
		{name: "data that is an array", body: `[{"channel":"c","data":[1]}]`, status: 400, code: "VALIDATION", fields: []string{"messages[0].data type"}},
		{name: "data that is HTML text", body: `[{"channel":"c","data":"<script>"}]`, status: 400, code: "VALIDATION", fields: []string{"messages[0].data type"}},
		{name: "data over 16 KiB", body: `[{"channel":"c","data":` + big + `}]`, status: 400, code: "VALIDATION", fields: []string{"messages[0].data max"}},
		{name: "a message with another key", body: `[{"channel":"c","data":{},"html":"<b>"}]`, status: 400, code: "VALIDATION", fields: []string{"messages[0] keys"}},
		{name: "the second message broken", body: `[{"channel":"c","data":{}},{"channel":"","data":{}}]`, status: 400, code: "VALIDATION", fields: []string{"messages[1].channel required"}},
		{name: "a body over the limit", body: many(16), opts: &gateway.Options{MaxBodyBytes: 64}, status: 413, code: "PAYLOAD_TOO_LARGE"},
		{name: "another media type", contentType: "text/html", body: oneMessage, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "a browser, when browsers are refused", header: http.Header{"Origin": {"https://evil.example"}}, opts: &gateway.Options{RefuseBrowsers: true}, status: 403, code: "FORBIDDEN"},
		{name: "no credentials, when authentication is on", opts: &gateway.Options{Authenticate: gateway.BasicAuth("u", "p", "gwe")}, status: 401, code: "UNAUTHORIZED"},
		{name: "a Messenger that is unavailable", n: &messenger{recorder: recorder{err: gateway.ErrUnavailable}}, status: 503, code: "UNAVAILABLE"},
		{name: "a Messenger that fails", n: &messenger{recorder: recorder{err: errors.New("boom")}}, status: 500, code: "INTERNAL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := &messenger{}
			n := tc.n
			if n == nil {
				n = m
			}
			r := httptest.NewRequest(or(tc.method, "POST"), or(tc.path, notifyPath), strings.NewReader(or(tc.body, oneMessage)))
			r.Header.Set("Content-Type", or(tc.contentType, "application/json"))
			for k, v := range tc.header {
				r.Header[k] = v
			}
			w := httptest.NewRecorder()
			gateway.NewHandler(n, tc.opts).ServeHTTP(w, r)
			resp := decode(t, w)
			var fields []string
			for _, f := range resp.Fields {
				fields = append(fields, f.Field+" "+f.Rule)
			}
			if w.Code != tc.status || resp.Code != tc.code {
				t.Errorf("%d %s (%s), want %d %s", w.Code, resp.Code, resp.Message, tc.status, tc.code)
			}
			if diff := cmp.Diff(tc.fields, fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			if tc.status == 503 && w.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if len(m.notified) > 0 {
				t.Errorf("the Messenger got %v", m.notified)
			}
		})
	}
}

// TestNotifyLimits: the largest valid request passes.
func TestNotifyLimits(t *testing.T) {
	t.Parallel()
	data := `{"x":"` + strings.Repeat("y", gateway.MaxMessageDataBytes-8) + `"}`
	msgs := "[" + strings.TrimSuffix(strings.Repeat(`{"page":"`+strings.Repeat("p", 128)+`","channel":"`+strings.Repeat("c", 64)+`","data":`+data+`},`, 16), ",") + "]"
	m := &messenger{}
	w := do(t, gateway.NewHandler(m, &gateway.Options{MaxBodyBytes: 1 << 20}), "POST", "/server/data/notification/notify/"+strings.Repeat("v", 128), "application/json", msgs)
	if w.Code != http.StatusOK || len(m.notified) != 1 || len(m.notified[0].Messages) != 16 {
		t.Fatalf("%d %s: the largest notify was not accepted", w.Code, w.Body)
	}
}

// TestNotifyObservedAndRouted: Observe sees operation "notify", OPTIONS
// answers 204, and Handler.Notify serves at any path, from a router's
// path value.
func TestNotifyObservedAndRouted(t *testing.T) {
	t.Parallel()
	var seen []gateway.Observation
	var mu sync.Mutex
	m := &messenger{}
	h := gateway.NewHandler(m, &gateway.Options{Observe: func(o gateway.Observation) {
		mu.Lock()
		o.Duration = 0
		seen = append(seen, o)
		mu.Unlock()
	}})
	do(t, h, "POST", notifyPath, "application/json", oneMessage)
	do(t, h, "POST", notifyPath, "application/json", `[]`)
	if w := do(t, h, "OPTIONS", notifyPath, "", ""); w.Code != http.StatusNoContent || w.Header().Get("Allow") != "POST, OPTIONS" {
		t.Errorf("OPTIONS: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
	want := []gateway.Observation{
		{Operation: "notify", Code: gateway.CodeOK, Status: 200},
		{Operation: "notify", Code: gateway.CodeValidation, Status: 400},
		{Operation: "notify", Code: gateway.CodeOK, Status: 204},
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}

	mux := http.NewServeMux()
	mux.Handle("POST /api/visits/{visitID}/messages", h.Notify())
	mux.Handle("POST /api/notify/", h.Notify())
	for _, path := range []string{"/api/visits/v-2/messages", "/api/notify/v-2"} {
		if w := do(t, mux, "POST", path, "application/json", oneMessage); w.Code != http.StatusOK {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
	}
	if len(m.notified) != 3 || m.notified[1].VisitID != "v-2" || m.notified[2].VisitID != "v-2" {
		t.Errorf("notified %+v", m.notified)
	}
}

// TestNotificationRulesAreProfiles: the visitID and a message's page obey
// the rules of Profile's VisitID and PageID, tag for tag.
func TestNotificationRulesAreProfiles(t *testing.T) {
	tag := func(typ reflect.Type, name string) string {
		f, _ := typ.FieldByName(name)
		return f.Tag.Get("validate")
	}
	profile := reflect.TypeFor[gateway.Profile]()
	for _, tc := range []struct{ got, want string }{
		{tag(reflect.TypeFor[gateway.Notification](), "VisitID"), tag(profile, "VisitID")},
		{tag(reflect.TypeFor[gateway.Message](), "Page"), tag(profile, "PageID")},
	} {
		if tc.got != tc.want || tc.want == "" {
			t.Errorf("tag %q, want %q", tc.got, tc.want)
		}
	}
}

// TestNotificationJSON: the encoding round-trips, and decoding is strict.
func TestNotificationJSON(t *testing.T) {
	t.Parallel()
	n := gateway.Notification{VisitID: "v-1", Messages: []gateway.Message{wantMessage, {Channel: "c", Data: json.RawMessage(`{}`)}}}
	out, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"visitID":"v-1","messages":[{"page":"p-1","channel":"gpe.appendContent","data":{"url":"/offer.html","container":"#offers"}},{"channel":"c","data":{}}]}`
	if string(out) != want {
		t.Errorf("Marshal = %s, want %s", out, want)
	}
	var back gateway.Notification
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(n, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`{"visitID":"v","messages":[],"x":1}`, `{"visitID":1}`, `{"visitID":"v","visitID":"w"}`, `[]`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
	var m gateway.Message
	if err := json.Unmarshal([]byte(`{"channel":"c","data":{"a":1}}`), &m); err != nil || m.Channel != "c" || string(m.Data) != `{"a":1}` {
		t.Errorf("Message Unmarshal = %+v, %v", m, err)
	}
}

// TestChainForwardsNotify: a Chain serves notify when one of its
// notifiers does, calls those in order, and stops at the first error.
func TestChainForwardsNotify(t *testing.T) {
	t.Parallel()
	if _, ok := gateway.Chain(&recorder{}, gateway.Discard).(gateway.Messenger); ok {
		t.Error("a Chain of no Messenger is a Messenger: the handler would accept notify and drop it")
	}
	first, failing, last := &messenger{}, &messenger{recorder: recorder{err: gateway.ErrUnavailable}}, &messenger{}
	c := gateway.Chain(first, &recorder{}, last).(gateway.Messenger)
	n := &gateway.Notification{VisitID: "v-1", Messages: []gateway.Message{wantMessage}}
	if err := c.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if len(first.notified) != 1 || len(last.notified) != 1 {
		t.Errorf("first got %d, last %d; want 1 each", len(first.notified), len(last.notified))
	}
	c = gateway.Chain(failing, last).(gateway.Messenger)
	if err := c.Notify(context.Background(), n); !errors.Is(err, gateway.ErrUnavailable) || len(last.notified) != 1 {
		t.Errorf("Notify = %v, last got %d: want the first error, and the last not called", err, len(last.notified))
	}
}

// TestClientNotify sends through the Client and the real Handler, in both
// encodings and path families.
func TestClientNotify(t *testing.T) {
	t.Parallel()
	n := gateway.Notification{VisitID: "v-1", Messages: []gateway.Message{wantMessage, {Channel: "c", Data: json.RawMessage(`{"a":[1,2]}`)}}}
	for _, paths := range []gateway.PathFamily{gateway.Paths85, gateway.Paths812} {
		for _, asJSON := range []bool{false, true} {
			m := &messenger{}
			h := gateway.NewHandler(m, nil)
			var path atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path.Store(r.URL.Path)
				h.ServeHTTP(w, r)
			}))
			defer srv.Close()
			c := newClient(t, srv.URL, &gateway.ClientOptions{Paths: paths, JSON: asJSON})
			if err := c.Notify(context.Background(), &n); err != nil {
				t.Fatalf("%s json=%v: %v", paths, asJSON, err)
			}
			if diff := cmp.Diff([]gateway.Notification{n}, m.notified); diff != "" {
				t.Errorf("%s json=%v (-want +got):\n%s", paths, asJSON, diff)
			}
			if want := strings.TrimSuffix(string(paths), "/gateway") + "/notification/notify/v-1"; path.Load() != want {
				t.Errorf("sent to %v, want %s", path.Load(), want)
			}
		}
	}

	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		gateway.NewHandler(&recorder{}, nil).ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, &gateway.ClientOptions{MaxAttempts: 1, BaseDelay: time.Millisecond})
	bad := gateway.Notification{VisitID: "v-1", Messages: []gateway.Message{{Channel: "a b", Data: json.RawMessage(`[]`)}}}
	var f *gateway.Fault
	if err := c.Notify(context.Background(), &bad); !errors.As(err, &f) || f.Code != gateway.CodeValidation || f.Status != 0 || calls.Load() != 0 {
		t.Errorf("an invalid notification: %v after %d calls, want VALIDATION before sending", err, calls.Load())
	}
	if err := c.Notify(context.Background(), &n); !errors.As(err, &f) || f.Code != gateway.CodeNotFound || f.Status != 404 {
		t.Errorf("a server without notify: %v, want its 404 NOT_FOUND", err)
	}
}

// FuzzNotify feeds arbitrary bodies and media types to the notify path:
// never a 5xx, always the documented JSON, and whatever the Messenger is
// given passes Validate (the fast path agrees with the validator),
// re-encodes, decodes again to the same value and encodes stably.
func FuzzNotify(f *testing.F) {
	f.Add("application/json", oneMessage)
	f.Add("application/json", many(16))
	f.Add("application/json", `{"messages":"[{\"channel\":\"c\",\"data\":{\"a\":\"\\u2028\"}}]"}`)
	f.Add("application/x-www-form-urlencoded", "messages="+url.QueryEscape(oneMessage))
	f.Add("", `[{"page":"","channel":"gpe.x","data":{"k":[1,{"n":null}]}}, {"channel":"c","data":{}}]`)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		check := gateway.Funcs{}
		m := messengerFunc(func(n *gateway.Notification) {
			if err := n.Validate(); err != nil {
				t.Fatalf("the handler accepted what Validate refuses: %v", err)
			}
			out, err := json.Marshal(n)
			if err != nil {
				t.Fatalf("accepted Notification does not encode: %v", err)
			}
			var again gateway.Notification
			if err := json.Unmarshal(out, &again); err != nil {
				t.Fatalf("re-encoded Notification does not decode: %v\n%s", err, out)
			}
			if err := again.Validate(); err != nil {
				t.Fatalf("re-encoded Notification does not validate: %v\n%s", err, out)
			}
			if out2, _ := json.Marshal(&again); string(out2) != string(out) {
				t.Fatalf("encoding is not stable:\n%s\n%s", out, out2)
			}
		})
		h := gateway.NewHandler(struct {
			gateway.Funcs
			messengerFunc
		}{check, m}, nil)
		w := do(t, h, "POST", notifyPath, contentType, body)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		var resp struct{ Status string }
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || (resp.Status != "OK" && resp.Status != "FAULT") {
			t.Fatalf("answer is not the documented JSON: %s", w.Body)
		}
	})
}

// messengerFunc is a Messenger that calls itself.
type messengerFunc func(n *gateway.Notification)

func (f messengerFunc) Notify(_ context.Context, n *gateway.Notification) error {
	f(n)
	return nil
}

// TestMountServesEveryPath mounts a Handler on a ServeMux with Mount and
// reaches each operation under both path families; a path Mount does not
// register stays the mux's own 404.
func TestMountServesEveryPath(t *testing.T) {
	m := &messenger{}
	mux := http.NewServeMux()
	gateway.NewHandler(m, nil).Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	profile := url.Values{"ixnProfile": {`{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}`}}.Encode()
	cancel := url.Values{"cancelData": {`{"interactionID":"i-1","visitID":"v-1"}`}}.Encode()
	messages := url.Values{"messages": {`[{"channel":"c","data":{}}]`}}.Encode()
	for _, c := range []struct {
		path, body string
		want       int
	}{
		{"/server/data/gateway/engage", profile, 200},
		{"/backend/data/gateway/engage", profile, 200},
		{"/server/data/gateway/noengage", cancel, 200},
		{"/backend/data/gateway/noengage", cancel, 200},
		{"/server/data/notification/notify/v-1", messages, 200},
		{"/backend/data/notification/notify/v-1", messages, 200},
		{"/server/data/gateway/other", profile, 404},
		{"/other/gateway/engage", profile, 404},
	} {
		resp, err := http.Post(srv.URL+c.path, "application/x-www-form-urlencoded", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("POST %s: %d, want %d", c.path, resp.StatusCode, c.want)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.notified) != 2 {
		t.Errorf("%d notifications, want 2", len(m.notified))
	}
}

// TestNotifyPaths: the Handler serves notify at …/notification/notify/{visitID}
// under any prefix, the empty one included, and at no path whose visitID
// holds a '/'.
func TestNotifyPaths(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/server/data/notification/notify/v-1", http.StatusOK},
		{"/backend/data/notification/notify/v-1", http.StatusOK},
		{"/notification/notify/v-1", http.StatusOK},
		{"/server/data/notification/notify//v-1", http.StatusNotFound},
		{"/server/data/notification/notify/v-1/", http.StatusNotFound},
		{"/server/data/notification/notify/v/1", http.StatusNotFound},
	} {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			m := &messenger{}
			h := gateway.NewHandler(m, nil)
			if w := do(t, h, "POST", tc.path, "application/json", oneMessage); w.Code != tc.status {
				t.Errorf("status = %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == http.StatusOK && (len(m.notified) != 1 || m.notified[0].VisitID != "v-1") {
				t.Errorf("notified %+v, want one notification for v-1", m.notified)
			}
		})
	}
}

// TestUnmarshalBoundsTheMessages: a long array of messages is cut to one
// past the limit, so memory stays bounded and validation names max; what
// lies past the cut is skipped, checked for syntax only.
func TestUnmarshalBoundsTheMessages(t *testing.T) {
	t.Parallel()
	in := `{"visitID":"v-1","messages":` + strings.TrimSuffix(many(17), "]") + `,1,"x"]}`
	var n gateway.Notification
	if err := json.Unmarshal([]byte(in), &n); err != nil {
		t.Fatal(err)
	}
	if len(n.Messages) != 17 {
		t.Errorf("kept %d messages, want 17", len(n.Messages))
	}
	var ve *gateway.Fault
	if err := n.Validate(); !errors.As(err, &ve) {
		t.Fatalf("Validate() = %v, want a VALIDATION *Fault", err)
	}
	want := []gateway.FieldError{{Field: "messages", Rule: "max", Message: "messages must have at most 16 entries"}}
	if diff := cmp.Diff(want, ve.Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

// TestNotificationUnmarshalErrors: a field of the wrong type and another key
// are reported together as VALIDATION; broken JSON is BAD_REQUEST however
// many other keys came first.
func TestNotificationUnmarshalErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		code     gateway.Code
		fields   []gateway.FieldError
	}{
		{"messages that are not an array", `{"visitID":"v","messages":5}`, gateway.CodeValidation, []gateway.FieldError{
			{Field: "messages", Rule: "type", Message: "messages must be an array of objects"}}},
		{"a type error and another key", `{"visitID":1,"x":1}`, gateway.CodeValidation, []gateway.FieldError{
			{Field: "visitID", Rule: "type", Message: "visitID must be a string"},
			{Field: "notification", Rule: "keys", Message: "notification may hold only visitID and messages"}}},
		{"another key, then broken JSON", `{"x":1,"visitID":`, gateway.CodeBadRequest, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var n gateway.Notification
			var f *gateway.Fault
			if err := n.UnmarshalJSON([]byte(tc.in)); !errors.As(err, &f) {
				t.Fatalf("err = %v, want a *Fault", err)
			}
			if f.Code != tc.code {
				t.Errorf("code = %s, want %s", f.Code, tc.code)
			}
			if diff := cmp.Diff(tc.fields, f.Fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
	var n gateway.Notification
	if err := json.Unmarshal([]byte(`{"visitID":"v","messages":null}`), &n); err != nil || n.Messages != nil {
		t.Errorf("null messages: %+v, %v; want none and no error", n.Messages, err)
	}
}

// TestValidateAtTheDataBound: Validate, which the Handler's fast path
// skips for valid requests, accepts data of exactly MaxMessageDataBytes.
func TestValidateAtTheDataBound(t *testing.T) {
	t.Parallel()
	data := func(size int) json.RawMessage {
		return json.RawMessage(`{"x":"` + strings.Repeat("y", size-len(`{"x":""}`)) + `"}`)
	}
	n := gateway.Notification{VisitID: "v-1", Messages: []gateway.Message{{Channel: "c", Data: data(gateway.MaxMessageDataBytes)}}}
	if err := n.Validate(); err != nil {
		t.Errorf("data of %d bytes: %v", gateway.MaxMessageDataBytes, err)
	}
	n.Messages[0].Data = data(gateway.MaxMessageDataBytes + 1)
	var f *gateway.Fault
	if err := n.Validate(); !errors.As(err, &f) || len(f.Fields) != 1 || f.Fields[0].Rule != "max" {
		t.Errorf("data of %d bytes: %v, want the max rule", gateway.MaxMessageDataBytes+1, err)
	}
}

// TestMessageMarshalsLargeData: a Message encodes on its own as within a
// Notification, whatever the size of its data.
func TestMessageMarshalsLargeData(t *testing.T) {
	t.Parallel()
	data := `{"html":"` + strings.Repeat("x", 200) + `"}`
	out, err := json.Marshal(gateway.Message{Channel: "c", Data: json.RawMessage(data)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"channel":"c","data":` + data + `}`; string(out) != want {
		t.Errorf("Marshal = %s, want %s", out, want)
	}
}
