//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package push

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// poller learns from the kernel when the socket of a hijacked stream has
// something to read or has closed: epoll on Linux, kqueue on the BSDs and
// macOS. Each stream's socket is registered for one notice at a time
// (EPOLLONESHOT, EV_ONESHOT) in the broker's own epoll or kqueue instance,
// which one goroutine waits on through Go's network poller: an idle
// stream costs neither a goroutine nor any work, and a browser that goes
// is seen at once, however it goes.
//
// On a notice the poller reads and discards what came, without waiting:
// the end of the stream (FIN, RST) drops it; a few stray bytes are
// counted (see maxStrayBytes) and the socket is registered again. A TLS
// stream's socket is only peeked at: its records are read through the
// tls.Conn, by a goroutine that lives for at most tlsReadWait, so that a
// close_notify is seen as the end it is.
type poller struct {
	mu      sync.Mutex
	q       *os.File      // the epoll or kqueue instance; nil until the first stream
	qfd     int           // its descriptor, valid while q is open
	closed  bool          // Shutdown has begun: nothing more is registered
	streams []*subscriber // by socket descriptor
}

// tlsReadWait is how long a TLS stream's reader waits for the rest of
// what its client sent, a record cut in two by the network.
const tlsReadWait = 20 * time.Millisecond

// watch registers s's connection with the poller, starting it with the
// first stream. A connection without a socket of its own is not watched:
// the heartbeat that fails to write finds it gone. The caller holds s.mu.
func (b *Broker) watch(s *subscriber, conn net.Conn) {
	rc := rawConn(conn)
	if rc == nil {
		return
	}
	p := &b.poller
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.q == nil {
		qfd, err := newQueue()
		if err == nil {
			err = syscall.SetNonblock(qfd, true) // so that Go's poller takes it
			if err != nil {
				syscall.Close(qfd)
			}
		}
		if err != nil {
			b.log(slog.LevelError, "push: cannot make a poller; vanished browsers are found by heartbeats", slog.Any("err", err))
			p.closed = true
			return
		}
		p.q, p.qfd = os.NewFile(uintptr(qfd), "push-poller"), qfd
		b.wg.Add(1)
		go b.poll(p.q)
	}
	rc.Control(func(fd uintptr) {
		i := int(fd)
		if i >= len(p.streams) {
			p.streams = append(p.streams, make([]*subscriber, i+1-len(p.streams))...)
		}
		if err := arm(p.qfd, i, true); err != nil {
			b.log(slog.LevelWarn, "push: cannot poll a stream; a heartbeat finds it gone", slog.Any("err", err))
			return
		}
		p.streams[i] = s
		s.fd = int32(i) + 1
	})
}

// unwatch forgets s, before its socket is closed and its descriptor
// reused.
func (b *Broker) unwatch(s *subscriber) {
	if s.fd == 0 { // set under s.mu before s could be dropped; never changed
		return
	}
	p := &b.poller
	p.mu.Lock()
	if fd := int(s.fd) - 1; p.streams[fd] == s {
		p.streams[fd] = nil
	}
	p.mu.Unlock()
}

// rearm asks for the next notice about s's socket, unless s has been
// dropped since: unwatch runs before the socket is closed, so a
// descriptor found here is still s's.
func (b *Broker) rearm(s *subscriber) {
	p := &b.poller
	p.mu.Lock()
	defer p.mu.Unlock()
	if fd := int(s.fd) - 1; !p.closed && p.streams[fd] == s {
		if err := arm(p.qfd, fd, false); err != nil {
			b.log(slog.LevelWarn, "push: cannot poll a stream; a heartbeat finds it gone", slog.Any("err", err))
		}
	}
}

// stopPoller stops the poller's goroutine; Shutdown calls it once every
// stream is dropped.
func (b *Broker) stopPoller() {
	p := &b.poller
	p.mu.Lock()
	p.closed = true
	q := p.q
	p.mu.Unlock()
	if q != nil {
		q.Close() // wakes poll, which returns
	}
}

// poll waits for notices and handles them, until stopPoller closes q.
func (b *Broker) poll(q *os.File) {
	defer b.wg.Done()
	rc, err := q.SyscallConn()
	if err != nil {
		return
	}
	events := make([]pollEvent, 128)
	buf := make([]byte, maxStrayBytes+1)
	for {
		var n int
		var werr error
		err := rc.Read(func(qfd uintptr) bool {
			for {
				n, werr = wait(int(qfd), events)
				if werr != syscall.EINTR {
					// Nothing yet: Go's poller wakes us when q has news.
					return n > 0 || werr != nil
				}
			}
		})
		if err == nil && werr != nil {
			err = werr
		}
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				b.log(slog.LevelError, "push: the poller stopped; vanished browsers are found by heartbeats", slog.Any("err", err))
			}
			return
		}
		for i := range events[:n] {
			b.ready(eventFD(&events[i]), buf)
		}
	}
}

// ready handles a notice about the socket fd: it drops the stream whose
// client has gone or sent too much, and asks for the next notice
// otherwise.
func (b *Broker) ready(fd int, buf []byte) {
	p := &b.poller
	p.mu.Lock()
	var s *subscriber
	if fd < len(p.streams) {
		s = p.streams[fd]
	}
	p.mu.Unlock()
	if s == nil {
		return // dropped since
	}
	s.mu.Lock()
	c := s.sink.conn()
	s.mu.Unlock()
	if tc, ok := c.(*tls.Conn); ok {
		readable, gone := peek(rawConn(tc))
		switch {
		case gone:
			b.drop(s)
		case readable:
			b.wg.Add(1)
			go b.readTLS(s, tc)
		default:
			b.rearm(s)
		}
		return
	}
	n, gone := discard(rawConn(c), buf)
	s.mu.Lock()
	tooMuch := s.strayed(n)
	s.mu.Unlock()
	if gone || tooMuch {
		b.drop(s)
		return
	}
	b.rearm(s)
}

// readTLS reads and discards what the client of a TLS stream sent, until
// nothing more comes within tlsReadWait; a close_notify ends the stream.
func (b *Broker) readTLS(s *subscriber, c *tls.Conn) {
	defer b.wg.Done()
	buf := make([]byte, 1024)
	c.SetReadDeadline(time.Now().Add(tlsReadWait))
	total := 0
	for {
		n, err := c.Read(buf)
		total += n
		if total > maxStrayBytes {
			break
		}
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				break // the end of the stream (close_notify, FIN), or a broken record
			}
			c.SetReadDeadline(time.Time{}) // the poller's peek would fail on it
			s.mu.Lock()
			tooMuch := s.strayed(total)
			s.mu.Unlock()
			if !tooMuch {
				b.rearm(s)
				return
			}
			break
		}
	}
	b.drop(s)
}

// rawConn returns the socket under conn, a TLS connection's included, or
// nil when it has none.
func rawConn(conn net.Conn) syscall.RawConn {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// discard reads what rc's socket holds, without waiting, up to len(buf)
// bytes, and reports how many bytes it read and whether the connection
// has ended (EOF, reset, closed).
func discard(rc syscall.RawConn, buf []byte) (n int, gone bool) {
	if rc == nil {
		return 0, false
	}
	err := rc.Read(func(fd uintptr) bool {
		for n < len(buf) {
			m, err := syscall.Read(int(fd), buf)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return true
			case err != nil || m == 0:
				gone = true
				return true
			}
			n += m
		}
		return true
	})
	return n, gone || err != nil
}

// peek reports, without waiting and without consuming anything, whether
// rc's socket has bytes to read, or has ended (EOF, reset, closed).
func peek(rc syscall.RawConn) (readable, gone bool) {
	if rc == nil {
		return false, false
	}
	err := rc.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
			case err != nil || n == 0:
				gone = true
			default:
				readable = true
			}
			return true
		}
	})
	return readable, gone || err != nil
}

// rawWriter is the socket of a plain stream, written without waiting.
type rawWriter = syscall.RawConn

// directWriter returns conn's socket if frames may be written to it
// directly: a plain connection's, not a TLS connection's, whose records
// only the tls.Conn may write.
func directWriter(conn net.Conn) rawWriter {
	if _, ok := conn.(*tls.Conn); ok {
		return nil
	}
	return rawConn(conn)
}

// writeNow writes p to rc's socket without waiting and returns how much
// it took: all of it, part, or nothing when the socket buffer is full.
// An error means the connection is broken.
func writeNow(rc rawWriter, p []byte) (n int, err error) {
	rerr := rc.Write(func(fd uintptr) bool {
		for {
			m, werr := syscall.Write(int(fd), p)
			switch {
			case werr == syscall.EINTR:
				continue
			case werr == syscall.EAGAIN:
			case werr != nil:
				err = werr
			default:
				n = m
			}
			return true
		}
	})
	if err == nil {
		err = rerr
	}
	return n, err
}

// polled returns how many streams the poller watches.
func (b *Broker) polled() int {
	p := &b.poller
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.streams {
		if s != nil {
			n++
		}
	}
	return n
}
