package push

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/internal/jsonscan"
)

// This file delivers notify messages (contract §9): the Broker is a
// gateway.Messenger. A message is not an invitation: nobody answers it,
// strict mode does not apply, and it is never cancelled. It is sent to the
// streams of its visit (and page) that are open, and kept for NotifyTTL
// for the pages that open later, under the invitations' byte budget and a
// cap per visit.

// DefaultNotifyTTL is the default of [Options.NotifyTTL].
const DefaultNotifyTTL = 30 * time.Second

// DefaultMaxNotificationsPerVisit is the default of
// [Options.MaxNotificationsPerVisit]: two notify requests of the most
// messages one may carry.
const DefaultMaxNotificationsPerVisit = 32

var _ gateway.Messenger = (*Broker)(nil)

// note is a notify message kept for the pages of its visit that connect
// within NotifyTTL. It is guarded by its shard's mutex.
type note struct {
	id, pageID string // id: the SSE id, "~" + the event's ID + "." + the message's index
	seq        uint64 // its place in the shard's order, shared with invitations
	expiresAt  time.Time
	frame      []byte // the notify event, encoded once
}

// noteMark is an expired note's place in the order, so that a page that
// reconnects naming it as its Last-Event-ID gets only what came after.
type noteMark struct {
	id  string
	seq uint64
}

// noteDue is a note in its shard's queue of notes by expiry.
type noteDue struct {
	v *visit
	n *note
}

// noteOverhead is what the view holds for a note besides its frame and its
// strings: the struct, its place in the visit's list and in the shard's
// queue, and its mark once it expires.
const noteOverhead = int64(unsafe.Sizeof(note{})+unsafe.Sizeof(noteDue{})+unsafe.Sizeof(noteMark{})) + 16

func (n *note) bytes() int64 {
	return noteOverhead + int64(cap(n.frame)+2*len(n.id)+len(n.pageID))
}

var errNotesFull = unavailable(time.Second, "push: the visit has MaxNotificationsPerVisit notify messages kept")

// Notify publishes n's messages through the backend: once they are in its
// log it returns nil, and every broker sends each message as a notify
// event to the open streams of the visit, of the message's page or of
// every page when it names none, and keeps it for NotifyTTL for the pages
// that open later. A page that reconnects with Last-Event-ID gets only the
// messages it did not have.
//
// Past MaxInvitationBytes (which the kept messages count toward) or
// MaxNotificationsPerVisit, after Shutdown, or when the backend fails, it
// returns a [*gateway.Fault] matching [gateway.ErrUnavailable]. The
// messages are published in one event, or in several when together they
// would pass [MaxEventBytes]; a failure after the first leaves the first
// published, and a retry sends them again.
func (b *Broker) Notify(ctx context.Context, n *gateway.Notification) error {
	if b.closed() {
		return errClosed
	}
	if b.invBytes.Load() >= b.maxInvBytes {
		return errFullBytes
	}
	now := b.now()
	var evs []*Event
	for msgs := n.Messages; len(msgs) > 0; {
		k := eventMessages(n.VisitID, msgs)
		evs = append(evs, b.traced(ctx, notifyEvent(n.VisitID, msgs[:k], now)))
		msgs = msgs[k:]
	}
	ids, ok := b.takeOff(n.VisitID, evs, len(n.Messages), now)
	if !ok {
		return errNotesFull
	}
	for i, ev := range evs {
		if err := b.backend.Publish(ctx, ev); err != nil {
			sh := b.shard(n.VisitID)
			sh.mu.Lock()
			for _, id := range ids[i:] { // never published: they count no more
				sh.landed(id)
			}
			sh.mu.Unlock()
			return backendUnavailable("Publish", err)
		}
	}
	return nil
}

// eventMessages returns how many of msgs, at least one, fit in one event of
// at most MaxEventBytes. Channels and pages need no escaping (their rules
// allow no such character), and data is encoded as it is, so the sum of
// their lengths and of a bound on the rest is an upper bound.
func eventMessages(visitID string, msgs []gateway.Message) int {
	size := 512 + len(visitID)
	for i, m := range msgs {
		size += 32 + len(m.Page) + len(m.Channel) + len(m.Data)
		if size > MaxEventBytes && i > 0 {
			return i
		}
	}
	return len(msgs)
}

// notifyEvent makes the event of messages for visitID. They are valid. The
// event refers to the messages, as engageEvent does to its profile.
func notifyEvent(visitID string, msgs []gateway.Message, at time.Time) *Event {
	x := &struct {
		ev Event
		n  gateway.Notification
	}{n: gateway.Notification{VisitID: visitID, Messages: msgs}}
	x.ev = Event{op: opNotify, n: newEventNumber(), at: at, notify: &x.n}
	return &x.ev
}

// decodeNotify decodes and checks the notification of a notify event. Its
// id names the messages' SSE ids, so it must obey the interactionID's
// rule: nothing read from the log can break a stream's framing.
func (e *Event) decodeNotify(text string) error {
	if interactionIDRule.Check(e.id) != nil {
		return errors.New("the id of a notify must be 1-64 characters of [A-Za-z0-9._:-]")
	}
	n := new(gateway.Notification)
	if err := n.UnmarshalJSON([]byte(text)); err != nil {
		return err
	}
	if err := n.Validate(); err != nil {
		return err
	}
	e.notify = n
	return nil
}

// flight is a notify event this broker published and has not applied
// yet: its messages count toward the visit's MaxNotificationsPerVisit
// from the start of the Notify, as they are kept once the event arrives.
// Through a network backend that is some time after Publish returns, and
// a cap that counted kept messages alone let every notify of a flood pass
// meanwhile.
type flight struct {
	visitID string
	k       int       // its messages
	until   time.Time // when it stops counting: an event that never arrives
}

// takeOff checks that k more messages fit the visit's
// MaxNotificationsPerVisit, counting those kept and those on their way,
// and if so counts evs, the events that carry them, as on their way. It
// returns their IDs.
func (b *Broker) takeOff(visitID string, evs []*Event, k int, now time.Time) ([]string, bool) {
	sh := b.shard(visitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	live := sh.flying[visitID]
	if v := sh.visits[visitID]; v != nil {
		for _, n := range v.notes {
			if now.Before(n.expiresAt) {
				live++
			}
		}
	}
	if live+k > b.perVisitNotes {
		return nil, false
	}
	if sh.flights == nil {
		sh.flights, sh.flying = make(map[string]flight), make(map[string]int)
	}
	visitID = strings.Clone(visitID) // the ID may pin a whole request
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID()
		sh.flights[ids[i]] = flight{visitID: visitID, k: len(ev.notify.Messages), until: now.Add(b.notifyTTL)}
	}
	sh.flying[visitID] += k
	b.wakeSweeper()
	return ids, true
}

// landed stops counting the notify event id as on its way: it arrived, or
// it was never published. The caller holds sh.mu.
func (sh *shard) landed(id string) {
	f, ok := sh.flights[id]
	if !ok {
		return
	}
	delete(sh.flights, id)
	if sh.flying[f.visitID] -= f.k; sh.flying[f.visitID] <= 0 {
		delete(sh.flying, f.visitID)
	}
	if len(sh.flights) == 0 {
		sh.flights, sh.flying = nil, nil // a flood's maps are freed
	}
}

// applyNotify keeps a notify event's messages and sends them to the
// visit's open streams, unless the event is a duplicate or older than
// NotifyTTL. The TTL runs from when the event was made, or from now when
// that is later than now (a clock ahead cannot keep a message longer).
func (b *Broker) applyNotify(ev *Event) {
	n := ev.notify
	now := b.now()
	evID := ev.ID()
	sh := b.shard(n.VisitID)
	expiresAt := minTime(ev.at, now).Add(b.notifyTTL)
	if !now.Before(expiresAt) || len(n.Messages) == 0 {
		sh.mu.Lock()
		sh.landed(evID)
		sh.mu.Unlock()
		return // a late delivery: it ran out on its way
	}
	notes := make([]*note, len(n.Messages))
	for i := range n.Messages {
		m := &n.Messages[i]
		id := "~" + evID + "." + strconv.Itoa(i)
		notes[i] = &note{id: id, pageID: strings.Clone(m.Page), expiresAt: expiresAt, frame: notifyFrame(id, m)}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.landed(evID)
	v := sh.visits[n.VisitID]
	if v == nil {
		v = sh.visit(n.VisitID)
	} else if _, ok := v.noteSeq(notes[0].id); ok {
		return // delivered twice by the backend
	}
	for _, nt := range notes {
		sh.seq++
		nt.seq = sh.seq
		v.notes = append(v.notes, nt)
		sh.notes.push(noteDue{v, nt})
		b.notesHeld.Add(1)
		b.invBytes.Add(nt.bytes())
	}
	b.wakeSweeper()
	for _, s := range v.subs {
		if frame := framesFor(notes, s.pageID); frame != nil {
			b.enqueue(s, frame)
		}
	}
}

// framesFor returns the frames of notes for a page, as one write, or nil
// if none is for it: a notify of many messages takes one place in a
// subscriber's queue.
func framesFor(notes []*note, pageID string) []byte {
	var frame []byte
	joined := false
	for _, nt := range notes {
		switch {
		case nt.pageID != "" && nt.pageID != pageID:
		case frame == nil:
			frame = nt.frame
		case !joined:
			frame = append(append([]byte(nil), frame...), nt.frame...)
			joined = true
		default:
			frame = append(frame, nt.frame...)
		}
	}
	return frame
}

// noteSeq returns the place in the order of the note id, kept or expired.
func (v *visit) noteSeq(id string) (uint64, bool) {
	if id == "" || id[0] != '~' {
		return 0, false
	}
	for _, n := range v.notes {
		if n.id == id {
			return n.seq, true
		}
	}
	for _, m := range v.gone {
		if m.id == id {
			return m.seq, true
		}
	}
	return 0, false
}

// expireNotes forgets the shard's notes whose time has come, keeping a
// mark of each in its visit (the last MaxNotificationsPerVisit of them).
// The caller holds sh.mu.
func (b *Broker) expireNotes(sh *shard, now time.Time) {
	for id, f := range sh.flights {
		if !now.Before(f.until) {
			sh.landed(id) // published, and never arrived here
		}
	}
	for sh.notes.len() > 0 && !now.Before(sh.notes.peek().n.expiresAt) {
		d := sh.notes.pop()
		v, n := d.v, d.n
		for i, x := range v.notes {
			if x == n {
				v.notes = append(v.notes[:i], v.notes[i+1:]...)
				break
			}
		}
		if len(v.gone) >= b.perVisitNotes {
			v.gone = append(v.gone[:0], v.gone[1:]...)
		}
		v.gone = append(v.gone, noteMark{n.id, n.seq})
		b.notesHeld.Add(-1)
		b.invBytes.Add(-n.bytes())
		if len(v.notes) == 0 {
			sh.recheck(v)
		}
	}
}

// withNotes merges into frames, the invitations a subscribing page gets
// first with their places in the order (seqs), the kept notes for the page
// that come after the place after, so that the page gets everything in
// the order it happened and its Last-Event-ID names the newest. The caller
// holds the shard's mutex.
func withNotes(frames [][]byte, seqs []uint64, v *visit, pageID string, after uint64, now time.Time) [][]byte {
	if len(v.notes) == 0 {
		return frames
	}
	var out [][]byte
	i := 0
	for _, n := range v.notes {
		if n.seq <= after || !now.Before(n.expiresAt) || n.pageID != "" && n.pageID != pageID {
			continue
		}
		if out == nil {
			out = make([][]byte, 0, len(frames)+len(v.notes))
		}
		for ; i < len(frames) && seqs[i] < n.seq; i++ {
			out = append(out, frames[i])
		}
		out = append(out, n.frame)
	}
	if out == nil {
		return frames
	}
	return append(out, frames[i:]...)
}

// notifyFrame encodes the notify event of message m:
// {"channel":…,"data":…,"page":…}, with id as the event's id. The data
// is the message's JSON text with its line breaks, which JSON allows only
// between tokens, made spaces: an event's data is one line.
func notifyFrame(id string, m *gateway.Message) []byte {
	b := make([]byte, 0, 64+len(id)+len(m.Channel)+len(m.Data)+len(m.Page))
	b = append(b, "event: notify\nid: "...)
	b = append(b, id...) // '~' and [A-Za-z0-9._:-]: safe in a field
	b = append(b, "\ndata: {\"channel\":"...)
	b = jsonscan.AppendString(b, m.Channel)
	b = append(b, `,"data":`...)
	for _, c := range []byte(m.Data) {
		if c == '\n' || c == '\r' {
			c = ' '
		}
		b = append(b, c)
	}
	if m.Page != "" {
		b = append(b, `,"page":`...)
		b = jsonscan.AppendString(b, m.Page)
	}
	return append(b, "}\n\n"...)
}
