package push

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// sink is where a subscriber's frames go: a hijacked connection, or a
// ResponseWriter whose handler waits. write is called by one goroutine at
// a time; close once.
type sink interface {
	write(frames [][]byte, timeout time.Duration) error
	close()
	// conn returns the hijacked connection, or nil.
	conn() net.Conn
}

// A hijacked connection is its own sink: *net.TCPConn and *tls.Conn, the
// connections net/http hands over, have sink types whose values are the
// connections themselves, so that a stream's sink costs no allocation;
// connSink holds any other.
type (
	tcpSink  net.TCPConn
	tlsSink  tls.Conn
	connSink struct{ c net.Conn }
)

// hijacked returns the sink of a hijacked connection.
func hijacked(c net.Conn) sink {
	switch c := c.(type) {
	case *net.TCPConn:
		return (*tcpSink)(c)
	case *tls.Conn:
		return (*tlsSink)(c)
	}
	return &connSink{c}
}

func (s *tcpSink) conn() net.Conn  { return (*net.TCPConn)(s) }
func (s *tlsSink) conn() net.Conn  { return (*tls.Conn)(s) }
func (s *connSink) conn() net.Conn { return s.c }

func (s *tcpSink) write(frames [][]byte, timeout time.Duration) error {
	return writeConn(s.conn(), frames, timeout)
}

func (s *tlsSink) write(frames [][]byte, timeout time.Duration) error {
	return writeConn(s.conn(), frames, timeout)
}

func (s *connSink) write(frames [][]byte, timeout time.Duration) error {
	return writeConn(s.c, frames, timeout)
}

func (s *tcpSink) close()  { s.conn().Close() }
func (s *connSink) close() { s.c.Close() }

// close closes a TLS stream's socket at once, without a close_notify:
// tls.Conn.Close would first wait for a writer that holds the connection,
// then up to 5 s for the alert to be written, and drop may be called under
// a shard's lock. An EventSource reconnects the same either way.
func (s *tlsSink) close() { (*tls.Conn)(s).NetConn().Close() }

// writeConn writes frames to c in one Write, within timeout. One buffer
// rather than a writev: a TLS connection would make a record of each
// frame, and a socket keeps the iovecs of its first writev for good.
func writeConn(c net.Conn, frames [][]byte, timeout time.Duration) error {
	if err := c.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	var err error
	if len(frames) == 1 {
		_, err = c.Write(frames[0])
	} else {
		buf := joinFrames(frames)
		_, err = c.Write(*buf)
		putFrames(buf)
	}
	if err != nil {
		return err
	}
	// The deadline bounds this write only: left set, its timer would
	// stay armed, and fire, for a stream that goes idle.
	return c.SetWriteDeadline(time.Time{})
}

// frameBufs holds the buffers writeConn joins batches in.
var frameBufs = sync.Pool{New: func() any { return new([]byte) }}

func joinFrames(frames [][]byte) *[]byte {
	buf := frameBufs.Get().(*[]byte)
	*buf = (*buf)[:0]
	for _, f := range frames {
		*buf = append(*buf, f...)
	}
	return buf
}

func putFrames(buf *[]byte) {
	if cap(*buf) <= 64<<10 { // a rare large batch is not kept
		frameBufs.Put(buf)
	}
}

// responseSink writes through a ResponseWriter; its handler waits on gone,
// then calls finish before it returns.
type responseSink struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	gone chan struct{}

	mu       sync.Mutex // held by a write; finish waits for it
	finished bool       // the handler returned: w must not be touched
}

var errFinished = errors.New("push: the stream's handler has returned")

func (r *responseSink) write(frames [][]byte, timeout time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return errFinished
	}
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

func (r *responseSink) conn() net.Conn { return nil }

// finish waits for a write in progress and makes every later write fail:
// the handler calls it before it returns.
func (r *responseSink) finish() {
	r.mu.Lock()
	r.finished = true
	r.mu.Unlock()
}
