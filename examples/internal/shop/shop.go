// Package shop is the demo shop page that the demo and the cluster example
// serve: a product, the visitor's visitID, the curl lines that engage and
// cancel it, and visitor.js showing the invitation, with the visitor token
// (contract §8) that lets the page, and only it, read and answer the
// visit's invitations.
package shop

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"html/template"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/engagekit/gateway/push"
)

//go:embed shop.html
var pages embed.FS

var page = template.Must(template.ParseFS(pages, "shop.html"))

// visitCookie holds the demo's visitID. A real site takes the visitID from
// its own visitor tracking (GWE's tracker script, say).
const visitCookie = "gwe_visit"

// TokenPath is where a shop page gets a new visitor token, with its
// pageID in the query, when its token expires.
const TokenPath = "/visitor-token"

// Config says how a shop page reaches the gateway.
type Config struct {
	// EngageURL is where the page's curl lines engage and cancel, plus
	// /server/data/gateway/; empty means the page's own host.
	EngageURL string
	// User is the HTTP Basic user the curl lines name, whose password the
	// example printed at start; empty means engage needs no credentials.
	User string
	// TokenKey signs the page's visitor tokens; nil means the page gets
	// none (the broker then does not require them).
	TokenKey *push.TokenKey
	// TokenTTL is the lifetime of each token; zero means
	// push.DefaultTokenTTL.
	TokenTTL time.Duration
	// BrokerURL is the origin whose /notification/ serves the page's
	// stream, when it is not the page's own (the broker must then allow
	// the page's origin); empty means the page's own.
	BrokerURL string
}

// Shop serves the shop page and its token endpoint.
type Shop struct{ cfg Config }

// New returns a Shop configured by cfg.
func New(cfg Config) *Shop { return &Shop{cfg} }

// Page serves the shop page (GET /): it gives the browser a visit cookie,
// picks the page's pageID, and renders a visitor token for the two.
func (s *Shop) Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		visitID, ok := visit(r)
		if !ok {
			visitID = "visit-" + randomHex(8)
			http.SetCookie(w, &http.Cookie{Name: visitCookie, Value: visitID, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		}
		pageID := "page-" + randomHex(4)
		token, err := s.token(visitID, pageID)
		if err != nil {
			http.Error(w, "no visitor token", http.StatusInternalServerError)
			return
		}
		engage := s.cfg.EngageURL
		if engage == "" {
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			engage = scheme + "://" + r.Host
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store") // the page holds a token
		page.Execute(w, map[string]any{
			"VisitID": visitID, "PageID": pageID, "Token": token, "TokenPath": TokenPath,
			"EngageURL": engage, "User": s.cfg.User, "BrokerURL": s.cfg.BrokerURL,
		})
	})
}

// Token serves a new visitor token for the visit of the browser's cookie
// and the page named by the pageID query parameter, as text. A browser
// without a visit cookie gets 401: only the visitor's own pages, which
// send the cookie, can have its tokens.
func (s *Shop) Token() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		visitID, ok := visit(r)
		if !ok {
			http.Error(w, "no visit", http.StatusUnauthorized)
			return
		}
		// MintToken refuses a pageID that breaks the rule of one.
		token, err := s.token(visitID, r.URL.Query().Get("pageID"))
		switch {
		case err != nil:
			http.Error(w, "bad pageID", http.StatusBadRequest)
			return
		case token == "":
			http.Error(w, "no visitor token", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte(token))
	})
}

// token mints the token of a page; without a key, none.
func (s *Shop) token(visitID, pageID string) (string, error) {
	if s.cfg.TokenKey == nil {
		return "", nil
	}
	now := time.Now()
	ttl := s.cfg.TokenTTL
	if ttl == 0 {
		ttl = push.DefaultTokenTTL
	}
	return push.MintToken(*s.cfg.TokenKey, push.TokenClaims{VisitID: visitID, PageID: pageID, IssuedAt: now, Expiry: now.Add(ttl)})
}

func visit(r *http.Request) (string, bool) {
	c, err := r.Cookie(visitCookie)
	if err != nil || !minted(c.Value) {
		return "", false
	}
	return c.Value, true
}

// minted reports whether v is a visitID this shop made: "visit-" and 16
// hex digits. Any other cookie is replaced.
func minted(v string) bool {
	h, ok := strings.CutPrefix(v, "visit-")
	_, err := hex.DecodeString(h)
	return ok && len(h) == 16 && err == nil
}

// BaseURL returns the URL that a browser on this machine opens for a server
// listening on addr: a listener on every interface is reached on loopback.
func BaseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
