package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/engagekit/gateway"
	"github.com/go-playground/validator/v10"
)

// benchProfile is a realistic ixnProfile of about 400 bytes once
// form-encoded (the size the issue sets).
const benchProfile = `{"interactionID":"0001Ba8MHP5U000A","visitID":"f24c60f6-0728-4f3d-b8b4-1e7bad2dc8a3",` +
	`"pageID":"5c911f90-3fa3-11e2-aee5-00505625a04f","channels":["chat","callback"],"language":"en",` +
	`"invitation":{"title":"Need a hand?","message":"An agent can help you finish your order."},` +
	`"userData":{"segment":"gold","cartValue":129.5}}`

var benchForm = []byte("ixnProfile=" + url.QueryEscape(benchProfile))

// bareHandler is the floor: read the body, write a constant 200.
var bareHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	io.WriteString(w, `{"status":"OK","interactionID":"0001Ba8MHP5U000A"}`)
})

// naiveProfile is the struct the obvious implementation would declare.
type naiveProfile struct {
	InteractionID string   `json:"interactionID" validate:"required,max=64"`
	VisitID       string   `json:"visitID" validate:"required,max=128"`
	GlobalVisitID string   `json:"globalVisitID,omitempty" validate:"omitempty,max=128"`
	PageID        string   `json:"pageID,omitempty" validate:"omitempty,max=128"`
	Channels      []string `json:"channels" validate:"required,min=1,max=8,unique,dive,required,max=32"`
	Language      string   `json:"language,omitempty" validate:"omitempty,bcp47_language_tag"`
	ExpiresIn     int      `json:"expiresIn,omitempty" validate:"min=0,max=1800"`
	Invitation    *struct {
		Title   string `json:"title,omitempty" validate:"max=200"`
		Message string `json:"message,omitempty" validate:"max=2000"`
		URL     string `json:"url,omitempty" validate:"omitempty,url"`
	} `json:"invitation,omitempty"`
	UserData map[string]any `json:"userData,omitempty"`
}

// naiveHandler is the baseline written the obvious way: ParseForm,
// json.Unmarshal, validator.Struct, json.NewEncoder(w).Encode.
func naiveHandler() http.Handler {
	v := validator.New()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		var p naiveProfile
		if err := json.Unmarshal([]byte(r.PostForm.Get("ixnProfile")), &p); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		if err := v.Struct(&p); err != nil {
			http.Error(w, "invalid", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]string{"status": "OK", "interactionID": p.InteractionID})
	})
}

// benchWriter is a ResponseWriter that keeps nothing, so the benchmarks
// measure the handlers rather than a recorder.
type benchWriter struct{ h http.Header }

func (w *benchWriter) Header() http.Header               { return w.h }
func (w *benchWriter) Write(b []byte) (int, error)       { return len(b), nil }
func (w *benchWriter) WriteString(s string) (int, error) { return len(s), nil }
func (w *benchWriter) WriteHeader(int)                   {}

func benchServe(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchForm)))
	body := bytes.NewReader(benchForm)
	r, _ := http.NewRequest(http.MethodPost, "http://gw.test/server/data/gateway/engage", body)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := &benchWriter{h: make(http.Header)}
	for b.Loop() {
		body.Reset(benchForm)
		r.Body = io.NopCloser(body)
		r.ContentLength = int64(len(benchForm))
		r.Form, r.PostForm = nil, nil
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

// BenchmarkEngage compares the handler with two baselines on one form-encoded
// ixnProfile: Bare (read the body, write a constant) and Naive (the obvious
// implementation). The README compares (Handler-Bare) with (Naive-Bare).
func BenchmarkEngage(b *testing.B) {
	b.Run("Bare", func(b *testing.B) { benchServe(b, bareHandler) })
	b.Run("Naive", func(b *testing.B) { benchServe(b, naiveHandler()) })
	b.Run("Handler", func(b *testing.B) { benchServe(b, gateway.NewHandler(gateway.Discard, nil)) })
}
