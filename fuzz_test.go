package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

// fuzzHandler drives one request through a handler whose notifier checks
// that what it accepts re-encodes and re-validates to the same value.
func fuzzHandler(t *testing.T, path, contentType, body string) {
	check := gateway.Funcs{
		EngageFunc: func(_ context.Context, p *gateway.Profile) error {
			out, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("accepted Profile does not encode: %v", err)
			}
			var again gateway.Profile
			if err := json.Unmarshal(out, &again); err != nil {
				t.Fatalf("re-encoded Profile does not decode: %v\n%s", err, out)
			}
			if err := again.Validate(); err != nil {
				t.Fatalf("re-encoded Profile does not validate: %v\n%s", err, out)
			}
			if out2, _ := json.Marshal(&again); string(out2) != string(out) {
				t.Fatalf("encoding is not stable:\n%s\n%s", out, out2)
			}
			return nil
		},
		CancelFunc: func(_ context.Context, c *gateway.CancelData) error {
			out, err := json.Marshal(c)
			if err != nil {
				t.Fatalf("accepted CancelData does not encode: %v", err)
			}
			var again gateway.CancelData
			if err := json.Unmarshal(out, &again); err != nil {
				t.Fatalf("re-encoded CancelData does not decode: %v", err)
			}
			if err := again.Validate(); err != nil {
				t.Fatalf("re-encoded CancelData does not validate: %v", err)
			}
			if diff := cmp.Diff(c.InteractionID, again.InteractionID); diff != "" {
				t.Fatal(diff)
			}
			return nil
		},
	}
	h := gateway.NewHandler(check, nil)
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code >= 500 {
		t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
	}
	var resp struct{ Status string }
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || (resp.Status != "OK" && resp.Status != "FAULT") {
		t.Fatalf("answer is not the documented JSON: %s", w.Body)
	}
}

// FuzzEngage feeds arbitrary bodies and media types to the engage path.
// Seeds: the f.Add calls and testdata/fuzz/FuzzEngage.
func FuzzEngage(f *testing.F) {
	f.Add("application/json", profileJSON)
	f.Add("application/x-www-form-urlencoded", "ixnProfile=%7B%22interactionID%22%3A%22i%22%2C%22visitID%22%3A%22v%22%2C%22channels%22%3A%5B%22chat%22%5D%7D")
	f.Add("", `{"ixnProfile":"{\"interactionID\":\"i\",\"visitID\":\"v\",\"channels\":[\"chat\"],\"x\":[{}]}"}`)
	f.Add("application/json", `{"interactionID":"i","visitID":"v","channels":["a","b"],"invitation":{"title":"\u00e9\ud83d\ude00"},"expiresIn":30}`)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		fuzzHandler(t, "/gateway/engage", contentType, body)
	})
}

// FuzzCancel does the same for the noengage path.
func FuzzCancel(f *testing.F) {
	f.Add("application/json", `{"interactionID":"i","visitID":"v","reason":"timeout","k":[1]}`)
	f.Add("application/x-www-form-urlencoded", "cancelData=%7B%22interactionID%22%3A%22i%22%2C%22visitID%22%3A%22v%22%7D")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		fuzzHandler(t, "/gateway/noengage", contentType, body)
	})
}
