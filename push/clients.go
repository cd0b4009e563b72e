package push

import (
	"hash/maphash"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/engagekit/gateway"
)

// This file holds the limits on streams that keep one client from taking
// the room of others (contract §6.8): the default of MaxSubscribers, taken
// from the process's open-file limit, and the count of each client's open
// streams.

// Bounds of the default of [Options.MaxSubscribers].
const (
	// maxDefaultSubscribers is the default's ceiling: some 17 MiB of idle
	// streams.
	maxDefaultSubscribers = 10_000
	// fileHeadroom is the open files the default leaves, besides a quarter
	// of the limit, to the engage API's connections, the backend's, the
	// listeners and the logs.
	fileHeadroom = 512
)

// defaultMaxSubscribers is the default of MaxSubscribers for a process
// that may open limit files (ok false: no limit is known). Each stream
// holds one file: streams may take three quarters of the limit less
// fileHeadroom, or half of it when that is more (a small limit), and at
// most maxDefaultSubscribers, so that a flood of streams cannot take the
// descriptors the engage API needs to answer.
func defaultMaxSubscribers(limit uint64, ok bool) int {
	if !ok || limit >= 4*maxDefaultSubscribers {
		return maxDefaultSubscribers
	}
	n := int(limit)
	return max(1, min(maxDefaultSubscribers, max(n/2, n*3/4-fileHeadroom)))
}

// maxDefaultStreamsPerClient is the ceiling of MaxStreamsPerClient's
// default.
const maxDefaultStreamsPerClient = 256

// defaultStreamsPerClient is the default of MaxStreamsPerClient: a
// sixteenth of maxSubs, at least a visit's tabs (perVisit) and at most
// maxDefaultStreamsPerClient.
func defaultStreamsPerClient(maxSubs, perVisit int) int {
	return max(perVisit, min(maxDefaultStreamsPerClient, maxSubs/16))
}

// RemoteClient is the default of [Options.ClientKey]: the IP address of
// r.RemoteAddr, with an IPv6 address cut to its /64 prefix, as one host
// (one home, one server) usually gets a whole /64 and may use any address
// in it. An IPv4 address mapped into IPv6 counts as the IPv4 address.
// When RemoteAddr is not an IP address and port (a Unix socket, a custom
// listener), the whole RemoteAddr is the key, so such requests share one
// cap. It reads nothing of r but RemoteAddr.
func RemoteClient(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	a := ap.Addr().Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

// clientStreams counts the open streams of each client, in shards by key
// so that opening streams does not contend on one lock. A key is in its
// shard's map while it has streams: the maps hold at most MaxSubscribers
// keys in all.
type clientStreams struct {
	max    int
	key    func(*http.Request) string // nil: RemoteClient, and warn once of proxies
	warned sync.Once
	seed   maphash.Seed
	shards [numShards]clientShard
}

type clientShard struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *clientStreams) init(max int, key func(*http.Request) string) {
	c.max, c.key, c.seed = max, key, maphash.MakeSeed()
	for i := range c.shards {
		c.shards[i].n = make(map[string]int)
	}
}

// clientOf returns the key r's stream counts against; "" counts against
// none.
func (b *Broker) clientOf(r *http.Request) string {
	c := &b.clients
	if c.key != nil {
		return c.key(r)
	}
	if r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" {
		c.warned.Do(func() {
			b.log(slog.LevelWarn, "push: stream requests come through a proxy (X-Forwarded-For or Forwarded) but Options.ClientKey is unset: every client behind the proxy shares the proxy's MaxStreamsPerClient (contract §6.8)")
		})
	}
	return RemoteClient(r)
}

// errClientFull refuses a stream of a client at MaxStreamsPerClient.
var errClientFull = unavailable(5*time.Second, "push: the client's stream limit is reached")

// take counts a new stream of key, or reports that the key is at its
// bound. An empty key is not counted.
func (c *clientStreams) take(key string) bool {
	if key == "" {
		return true
	}
	sh := &c.shards[maphash.String(c.seed, key)%numShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n, ok := sh.n[key]
	if n >= c.max {
		return false
	}
	if !ok {
		key = strings.Clone(key) // it may pin a whole request
	}
	sh.n[key] = n + 1
	return true
}

// release uncounts a stream of key that take counted.
func (c *clientStreams) release(key string) {
	if key == "" {
		return
	}
	sh := &c.shards[maphash.String(c.seed, key)%numShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if n := sh.n[key]; n > 1 {
		sh.n[key] = n - 1
	} else {
		delete(sh.n, key)
	}
}

// refuse answers a request of the browser side with err. A refused
// stream's connection is closed after the answer (HTTP/1.x): a client
// refused many times, or a visitor's browser refused at a limit, then
// holds no descriptor, where keep-alive would hold one until the server's
// IdleTimeout, if it has one. Over HTTP/2 the connection is shared with
// the browser's other requests and stays.
func refuse(w http.ResponseWriter, r *http.Request, stream bool, err error) {
	if stream && r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
	gateway.WriteError(w, err)
}
