package push

import (
	"errors"
	"net"
	"net/http"
	"time"
)

// sink is where a subscriber's frames go: a hijacked connection, or a
// ResponseWriter whose handler waits. write is called by one goroutine at
// a time; close once.
type sink interface {
	write(frames [][]byte, timeout time.Duration) error
	close()
}

// connSink writes to a connection taken over from net/http.
type connSink struct{ conn net.Conn }

func (c connSink) write(frames [][]byte, timeout time.Duration) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	bufs := net.Buffers(frames) // one writev for the batch
	_, err := bufs.WriteTo(c.conn)
	return err
}

func (c connSink) close() { c.conn.Close() }

// responseSink writes through a ResponseWriter; its handler waits on gone.
type responseSink struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	gone chan struct{}
}

func (r *responseSink) write(frames [][]byte, timeout time.Duration) error {
	// A deadline per write, where the writer supports one, drops a browser
	// that stopped reading instead of holding a goroutine.
	if err := r.rc.SetWriteDeadline(time.Now().Add(timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	for _, f := range frames {
		if _, err := r.w.Write(f); err != nil {
			return err
		}
	}
	if err := r.rc.Flush(); err != nil {
		return err
	}
	// Disarm it: HTTP/2 resets a stream whose write deadline passes even
	// while nothing is being written, so an armed deadline would end every
	// stream idle for longer than the timeout. It also lifts the server's
	// WriteTimeout, which bounds a response, not a stream.
	if err := r.rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

func (r *responseSink) close() { close(r.gone) }
