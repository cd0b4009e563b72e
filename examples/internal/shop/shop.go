// Package shop is the demo shop page that the demo and the cluster example
// serve: a product, the visitor's visitID, the curl lines that engage and
// cancel it, and visitor.js showing the invitation.
package shop

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"strings"
)

//go:embed shop.html
var pages embed.FS

var page = template.Must(template.ParseFS(pages, "shop.html"))

// visitCookie holds the demo's visitID. A real site takes the visitID from
// its own visitor tracking (GWE's tracker script, say).
const visitCookie = "gwe_visit"

// Page serves the shop page. It expects the broker at /notification/ and the
// gateway at /server/data/gateway/ on the same host.
func Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		visitID := ""
		if c, err := r.Cookie(visitCookie); err == nil && minted(c.Value) {
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
		page.Execute(w, map[string]string{"VisitID": visitID, "Base": scheme + "://" + r.Host})
	})
}

// minted reports whether v is a visitID this page made: "visit-" and 16
// hex digits. Any other cookie is replaced.
func minted(v string) bool {
	h, ok := strings.CutPrefix(v, "visit-")
	_, err := hex.DecodeString(h)
	return ok && len(h) == 16 && err == nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
