package main

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

//go:embed shop.html
var pages embed.FS

var shopPage = template.Must(template.ParseFS(pages, "shop.html"))

// Demo is the demo's server: the GWE endpoints, the browser delivery and
// a shop page, on one mux.
type Demo struct {
	Broker  *push.Broker
	Handler http.Handler
}

// visitCookie holds the demo's visitID. A real site takes the visitID
// from its own visitor tracking (GWE's tracker script, say).
const visitCookie = "gwe_visit"

// NewDemo builds the demo's server. onDisposition, when set, hears each
// visitor's answer after it is logged.
func NewDemo(log *slog.Logger, onDisposition func(push.Disposition)) *Demo {
	b := push.NewBroker(&push.Options{
		Logger: log,
		OnDisposition: func(ctx context.Context, d push.Disposition) {
			log.InfoContext(ctx, "disposition", "visitID", d.VisitID, "interactionID", d.InteractionID, "result", d.Result, "channel", d.Channel)
			if onDisposition != nil {
				onDisposition(d)
			}
		},
	})
	gw := gateway.NewHandler(b, &gateway.Options{Logger: log})
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", gw)  // GWE 8.5 paths
	mux.Handle("/backend/data/gateway/", gw) // GWE 8.1.2 paths
	mux.Handle("/notification/", b)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		visitID := ""
		if c, err := r.Cookie(visitCookie); err == nil && gateway.ValidVisitID(c.Value) {
			visitID = c.Value
		} else {
			visitID = "visit-" + randomHex(8)
			http.SetCookie(w, &http.Cookie{Name: visitCookie, Value: visitID, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		shopPage.Execute(w, map[string]string{"VisitID": visitID, "Base": scheme + "://" + r.Host})
	})
	return &Demo{Broker: b, Handler: mux}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
