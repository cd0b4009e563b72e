package push

import (
	"bytes"
	_ "embed"
	"net/http"
	"time"

	"github.com/engagekit/gateway"
)

// visitorJS is the browser script: see visitor.js for its API.
//
//go:embed visitor.js
var visitorJS []byte

// scriptModTime is the Last-Modified of the script: the process's start,
// as the script is part of the binary.
var scriptModTime = time.Now()

func (b *Broker) serveScript(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		gateway.WriteError(w, &gateway.Fault{Code: gateway.CodeMethodNotAllowed, Message: "method not allowed; use GET"})
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	http.ServeContent(w, r, "visitor.js", scriptModTime, bytes.NewReader(visitorJS))
}
