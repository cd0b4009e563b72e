// Package serve makes the http.Server every example runs, with the
// timeouts a gateway host sets (the gateway package's documentation, "What
// a host must set").
package serve

import (
	"net/http"
	"time"

	"github.com/engagekit/gateway"
)

// Timeouts are the bounds Server sets. Package push's event streams are
// taken over from net/http (hijacked), which clears the connection's
// deadlines, so none of these ends a stream; over HTTP/2 the broker lifts
// the write deadline after each write for the same reason.
type Timeouts struct {
	// ReadHeader bounds the request line and headers: only the server can.
	ReadHeader time.Duration
	// Read bounds a whole request, body included (the engage handler also
	// bounds the body itself, gateway.Options.ReadBodyTimeout).
	Read time.Duration
	// Write bounds writing a response; engage answers are small.
	Write time.Duration
	// Idle bounds how long a keep-alive connection waits for its next
	// request.
	Idle time.Duration
}

// Defaults are the examples' timeouts.
var Defaults = Timeouts{ReadHeader: 5 * time.Second, Read: 10 * time.Second, Write: 10 * time.Second, Idle: 2 * time.Minute}

// Server returns an http.Server for h with t's timeouts, and request
// headers bounded to the engage body limit and a few KiB: the query string
// travels with them.
func Server(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    gateway.DefaultMaxBodyBytes + 8<<10,
	}
}
