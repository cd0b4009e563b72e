package redisfanout

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/engagekit/gateway/push"
	"github.com/redis/go-redis/v9"
)

// publishScript appends an event and trims the stream, by length and by
// age on the server's clock, in one round trip. KEYS[1] is the stream;
// ARGV is MaxLen, History in milliseconds, the event's ID, its bytes and
// its traceparent, which is stored in a field of its own when not empty.
var publishScript = redis.NewScript(`
local id
if ARGV[5] ~= '' then
	id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'id', ARGV[3], 'ev', ARGV[4], 'traceparent', ARGV[5])
else
	id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'id', ARGV[3], 'ev', ARGV[4])
end
local t = redis.call('TIME')
local minid = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[2])
if minid > 0 then
	redis.call('XTRIM', KEYS[1], 'MINID', '~', minid)
end
return id`)

// Publish implements [push.Backend]: it returns once Redis has appended the
// event to the stream, as an entry whose field ev holds the event's bytes
// and, when the event has one, whose field traceparent holds its
// traceparent (contract §7.3). An event whose encoding is over
// [push.MaxEventBytes], which every listener would drop, is refused with
// an error and not published.
func (b *Backend) Publish(ctx context.Context, ev *push.Event) error {
	data, err := ev.MarshalBinary()
	if err != nil {
		return fmt.Errorf("redisfanout: %w", err)
	}
	if len(data) > push.MaxEventBytes {
		return fmt.Errorf("redisfanout: event %s is %d bytes, over push.MaxEventBytes", ev.ID(), len(data))
	}
	if err := publishScript.Run(ctx, b.client, []string{b.stream}, b.maxLen, b.historyMS, ev.ID(), data, ev.TraceParent()).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Tuning of Listen.
const (
	readCount  = 256 // entries one XREAD returns at most
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
	// unblockEvery repeats CLIENT UNBLOCK until the read returns: one sent
	// just before the XREAD reached the server would be lost.
	unblockEvery = 20 * time.Millisecond
)

// Listen implements [push.Backend]. It reads the stream with XREAD BLOCK
// on a connection of its own from the first entry kept, then from the
// last entry delivered. After an error it connects again, waiting 50 ms,
// then twice as long each time up to 5 s; it logs each retry and counts it
// in [Stats].Reconnects. It returns an error other than ctx's only for a
// nil deliver.
func (b *Backend) Listen(ctx context.Context, deliver func(*push.Event)) error {
	if deliver == nil {
		return errors.New("redisfanout: Listen needs a deliver func")
	}
	l := &listener{b: b, deliver: deliver, cursor: "0"}
	backoff := minBackoff
	for {
		read, err := l.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if read {
			backoff = minBackoff
		}
		b.reconnects.Add(1)
		if c, ok := b.client.(*redis.ClusterClient); ok {
			c.ReloadState(ctx) // the stream's slot may have moved
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		b.log.Warn("redisfanout: reading the stream failed; retrying", "err", err, "after", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listener is the state of one Listen call.
type listener struct {
	b       *Backend
	deliver func(*push.Event)
	cursor  string // the ID of the last entry delivered, "0" for none
}

// session reads the stream on one connection until an error or until ctx
// is done. read reports whether a read succeeded, so that Listen retries
// a connection that was working at once. An XREAD that returns nothing
// (it waited b.block, or was unblocked) makes the next turn check the
// stream for a reset: with entries numbered below the cursor, a stream
// made anew would wake no read.
func (l *listener) session(ctx context.Context) (read bool, err error) {
	r, err := l.b.reader(ctx)
	if err != nil {
		return false, err
	}
	defer r.close()
	check := true
	for ctx.Err() == nil {
		if check && l.cursor != "0" {
			reset, err := l.b.wasReset(ctx, r.cmd, l.cursor)
			if err != nil {
				return read, err
			}
			if reset {
				l.b.resets.Add(1)
				l.b.log.Warn("redisfanout: the stream was made anew; reading it again from its first entry", "stream", l.b.stream, "cursor", l.cursor)
				l.cursor = "0"
			}
		}
		streams, err := r.cmd.XRead(ctx, &redis.XReadArgs{
			Streams: []string{l.b.stream, l.cursor},
			Count:   readCount,
			Block:   r.block,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return read, err
		}
		read = true
		check = len(streams) == 0
		for _, s := range streams {
			for _, m := range s.Messages {
				if ctx.Err() != nil {
					return read, nil // deliver nothing once ctx is done
				}
				l.apply(m)
			}
		}
	}
	return read, nil
}

// apply delivers one entry, or drops it, and moves the cursor past it.
// The entry's traceparent field, if any, is checked by push.DecodeEvent.
func (l *listener) apply(m redis.XMessage) {
	l.cursor = m.ID
	data, ok := m.Values["ev"].(string)
	if !ok {
		l.b.drop(m.ID, errors.New(`no "ev" field`))
		return
	}
	tp, _ := m.Values["traceparent"].(string)
	ev, err := push.DecodeEvent([]byte(data), tp)
	if err != nil {
		l.b.drop(m.ID, err)
		return
	}
	l.deliver(ev)
}

// drop counts an entry that did not decode and logs it, at most once a
// second: a flood of junk must not flood the log too.
func (b *Backend) drop(id string, err error) {
	n := b.dropped.Add(1)
	now := time.Now().UnixNano()
	last := b.lastDropLog.Load()
	if now-last >= int64(time.Second) && b.lastDropLog.CompareAndSwap(last, now) {
		b.log.Warn("redisfanout: dropped a stream entry that is not a valid event", "stream", b.stream, "entry", id, "err", err, "dropped", n)
	}
}

// reader is the connection a session reads on.
type reader struct {
	cmd   redis.Cmdable
	block time.Duration
	close func()
}

// reader returns a connection of its own to the node that holds the
// stream, and arranges that ctx's end unblocks its XREAD with CLIENT
// UNBLOCK, sent over the node's pool. Where it cannot (a Ring, or an ACL
// user without CLIENT ID or CLIENT UNBLOCK) it reads with a short block instead, so that
// Listen returns within a second of ctx's end.
func (b *Backend) reader(ctx context.Context) (*reader, error) {
	var node *redis.Client
	switch c := b.client.(type) {
	case *redis.Client:
		node = c
	case *redis.ClusterClient:
		var err error
		if node, err = c.MasterForKey(ctx, b.stream); err != nil {
			return nil, err
		}
	default:
		return &reader{cmd: b.client, block: min(b.block, time.Second), close: func() {}}, nil
	}
	conn := node.Conn()
	id, err := conn.ClientID(ctx).Result()
	if err == nil {
		// Unblocking itself, not blocked, tells whether the user may.
		err = conn.ClientUnblock(ctx, id).Err()
	}
	if rerr := redis.Error(nil); errors.As(err, &rerr) {
		// Refused (an ACL without CLIENT ID or UNBLOCK, which are
		// @connection and @dangerous): read without unblocking.
		return &reader{cmd: conn, block: min(b.block, time.Second), close: func() { conn.Close() }}, nil
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	done, exited := make(chan struct{}), make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(exited)
		t := time.NewTicker(unblockEvery)
		defer t.Stop()
		for {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			node.ClientUnblock(uctx, id)
			cancel()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return &reader{cmd: conn, block: b.block, close: func() {
		close(done)
		if !stop() {
			<-exited // the unblocking goroutine ran: wait for it
		}
		conn.Close()
	}}, nil
}

// wasReset reports whether the stream is not the one the cursor was read
// from: it is gone, it ends before the cursor, or it no longer holds the
// cursor's entry though it holds entries before it. A stream trimmed
// past the cursor is the same stream: reading on from the cursor skips
// nothing it keeps.
func (b *Backend) wasReset(ctx context.Context, c redis.Cmdable, cursor string) (bool, error) {
	cur, err := parseID(cursor)
	if err != nil {
		return false, err
	}
	var exists *redis.IntCmd
	var info *redis.XInfoStreamCmd
	var at *redis.XMessageSliceCmd
	_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, b.stream)
		info = p.XInfoStream(ctx, b.stream)
		at = p.XRangeN(ctx, b.stream, cursor, cursor, 1)
		return nil
	})
	if exists.Err() == nil && exists.Val() == 0 {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	last, err := parseID(info.Val().LastGeneratedID)
	if err != nil {
		return false, err
	}
	if last.less(cur) {
		return true, nil
	}
	if len(at.Val()) == 1 || info.Val().Length == 0 {
		return false, nil
	}
	first, err := parseID(info.Val().FirstEntry.ID)
	if err != nil {
		return false, err
	}
	return !cur.less(first), nil
}

// streamID is a stream entry's ID, milliseconds and sequence.
type streamID struct{ ms, seq uint64 }

func parseID(s string) (streamID, error) {
	ms, seq, _ := strings.Cut(s, "-")
	var id streamID
	var err1, err2 error
	id.ms, err1 = strconv.ParseUint(ms, 10, 64)
	if seq != "" {
		id.seq, err2 = strconv.ParseUint(seq, 10, 64)
	}
	if err1 != nil || err2 != nil {
		return streamID{}, fmt.Errorf("redisfanout: %q is not a stream ID", s)
	}
	return id, nil
}

func (a streamID) less(b streamID) bool {
	return a.ms < b.ms || a.ms == b.ms && a.seq < b.seq
}
