//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package push

import (
	"net"
	"sync"
	"time"
)

// poller, where the broker has no epoll or kqueue to ask (Windows,
// Solaris, AIX, …), keeps the hijacked streams in a set; on Unix it peeks
// at each one's socket once a second (see peerClosed), elsewhere a
// vanished browser is found by the first heartbeat that fails to write.
type poller struct {
	mu      sync.Mutex
	closed  bool
	stop    chan struct{} // nil until the first stream
	streams map[*subscriber]net.Conn
}

// watch adds s to the set. The caller holds s.mu.
func (b *Broker) watch(s *subscriber, conn net.Conn) {
	if !canPeek {
		return
	}
	p := &b.poller
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.stop == nil {
		p.stop = make(chan struct{})
		p.streams = make(map[*subscriber]net.Conn)
		b.wg.Add(1)
		go b.peekEverySecond(p.stop)
	}
	p.streams[s] = conn
}

func (b *Broker) unwatch(s *subscriber) {
	if !canPeek {
		return
	}
	p := &b.poller
	p.mu.Lock()
	delete(p.streams, s)
	p.mu.Unlock()
}

func (b *Broker) stopPoller() {
	p := &b.poller
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed && p.stop != nil {
		close(p.stop)
	}
	p.closed = true
}

// peekEverySecond drops, once a second, the streams whose socket shows
// the end of the connection.
func (b *Broker) peekEverySecond(stop chan struct{}) {
	defer b.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var gone []*subscriber
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		p := &b.poller
		p.mu.Lock()
		for s, c := range p.streams {
			if peerClosed(c) {
				gone = append(gone, s)
			}
		}
		p.mu.Unlock()
		for _, s := range gone {
			b.drop(s)
		}
		clear(gone)
		gone = gone[:0]
	}
}

// rawWriter is unused here: heartbeats go through a writer goroutine.
type rawWriter = any

func directWriter(net.Conn) rawWriter { return nil }

func writeNow(rawWriter, []byte) (int, error) { return 0, nil }

// polled returns how many streams the poller watches.
func (b *Broker) polled() int {
	p := &b.poller
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.streams)
}
