package push

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"time"

	"github.com/engagekit/gateway"
)

// Gate is an offer-gating policy: rules a [Broker] checks before it admits
// an engage, so that a visitor is not pestered. Set it as [Options.Gate].
// Each rule is off at its zero value; a nil *Gate gates nothing and costs
// the engage path nothing.
//
// An engage a rule refuses is answered 400 ENGAGEMENT_SUPPRESSED with the
// rule's name as the FAULT's "reason" (see [gateway.ErrEngagementSuppressed])
// and reported as outcome [ResultSuppressed]; nothing is shown. The rules
// are checked in the order of the fields below, and the first that refuses
// names the reason. An engage for an interactionID that is live or has
// ended is accepted without a check, as it makes no new invitation; in
// strict mode an engage refused ENGAGEMENT_IN_PROGRESS is not counted.
//
// The rules that count (Cooldown, MaxPerWindow, MinGap) keep a record per
// visit in the [Backend], so that they hold across every broker sharing it:
// the times of the visit's last invitations and of its last rejection,
// read and written back at once with the backend's compare-and-set (a
// round trip or two per engage on a network backend). The record lives
// [Options.VisitExpiry] from the visit's last invitation or rejection. An
// invitation is counted when its engage is admitted, before it is
// published: an engage that then fails 503 still counts. When the backend
// cannot be reached the engage is answered 503, like every engage then.
//
// Every broker sharing a Backend should have the same Gate.
type Gate struct {
	// QuietHours are the times of day when no invitation is made, in
	// Location: reason "quiet-hours". Nil means none.
	QuietHours []QuietHours
	// Location is the time zone of QuietHours, such as
	// time.LoadLocation("Europe/Paris"). Nil means UTC.
	Location *time.Location

	// Available, when set, is asked whether the engage's channels can be
	// served now (for example: are agents online for chat), with the
	// engage's context and the profile's channels, which it must not
	// change or keep. false refuses the engage: reason "unavailable". It
	// is called on the engage's goroutine, concurrently: return quickly.
	Available func(ctx context.Context, channels []string) bool

	// Cooldown is how long after a visitor rejected an invitation no new
	// invitation is made to the visit: reason "cooldown". The rejection
	// is recorded by the broker that receives it, before it is answered:
	// a rejection answered 200 has its cool-down, and one answered 503
	// (the backend failed meanwhile) may have it too. Zero means none.
	Cooldown time.Duration

	// MinGap is the shortest time between two invitations to one visit:
	// reason "gap". Zero means none.
	MinGap time.Duration

	// MaxPerWindow, with Window, bounds the invitations to one visit
	// within any Window: reason "window". Both must be set for the rule to
	// hold, and MaxPerWindow at most [MaxGateWindow]. Zero means no bound.
	MaxPerWindow int
	Window       time.Duration
}

// QuietHours is a daily window of a [Gate]: from Start to End, each a time
// of day given as the time since midnight on the clock (9*time.Hour is
// 09:00, also on the days clocks change). Start is in the window and End
// is not; an End before Start spans midnight (22:00 to 07:00).
type QuietHours struct{ Start, End time.Duration }

// MaxGateWindow is the largest [Gate].MaxPerWindow: a visit's record keeps
// the time of each invitation in the window.
const MaxGateWindow = 64

// DefaultVisitExpiry is the default of [Options.VisitExpiry]: 24 hours, as
// GWE's visitExpirationTime.
const DefaultVisitExpiry = 24 * time.Hour

// The reasons of a suppressed engage, in the FAULT's "reason".
const (
	ReasonQuietHours  = "quiet-hours"
	ReasonUnavailable = "unavailable"
	ReasonCooldown    = "cooldown"
	ReasonGap         = "gap"
	ReasonWindow      = "window"
)

// suppressed holds the one Fault of each reason: shared values, never
// changed.
var suppressed = map[string]*gateway.Fault{}

func init() {
	for _, r := range []string{ReasonQuietHours, ReasonUnavailable, ReasonCooldown, ReasonGap, ReasonWindow} {
		suppressed[r] = &gateway.Fault{Code: gateway.CodeEngagementSuppressed, Reason: r}
	}
}

// gate is a Gate checked and precomputed by NewBroker.
type gate struct {
	Gate
	counts bool // a rule keeps a record per visit
	keep   time.Duration
}

// newGate checks g and precomputes what the engage path needs; nil for a
// nil g. It panics, as NewBroker does, on a rule it cannot apply.
func newGate(g *Gate) *gate {
	if g == nil {
		return nil
	}
	if g.Cooldown < 0 || g.MinGap < 0 || g.Window < 0 || g.MaxPerWindow < 0 || g.MaxPerWindow > MaxGateWindow {
		panic("push: Gate durations must not be negative, and MaxPerWindow must be 0 to 64")
	}
	if (g.MaxPerWindow == 0) != (g.Window == 0) {
		panic("push: Gate.MaxPerWindow and Gate.Window go together")
	}
	for _, q := range g.QuietHours {
		if q.Start < 0 || q.End < 0 || q.Start >= 24*time.Hour || q.End > 24*time.Hour {
			panic("push: Gate.QuietHours must be times of day, 0 to 24h")
		}
	}
	x := &gate{Gate: *g}
	x.QuietHours = append([]QuietHours(nil), g.QuietHours...)
	if x.Location == nil {
		x.Location = time.UTC
	}
	x.counts = g.Cooldown > 0 || g.MinGap > 0 || g.MaxPerWindow > 0
	x.keep = max(g.MinGap, g.Window) // how long an invitation's time matters
	return x
}

// quiet reports whether t falls in one of the quiet hours.
func (g *gate) quiet(t time.Time) bool {
	if len(g.QuietHours) == 0 {
		return false
	}
	h, m, s := t.In(g.Location).Clock()
	tod := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second
	for _, q := range g.QuietHours {
		if q.Start <= q.End && q.Start <= tod && tod < q.End || q.End < q.Start && (q.Start <= tod || tod < q.End) {
			return true
		}
	}
	return false
}

// visitGate is a visit's record: the time of its last rejection and the
// invitations that still matter, oldest first.
type visitGate struct {
	rejected int64 // Unix milliseconds
	offers   []offer
}

// offer is an invitation the Gate counted: when, in Unix milliseconds,
// and a hash of its interactionID, so that an engage repeated on another
// broker before its event arrived there is not counted twice (two IDs
// share a hash once in 4 billion, and the second is then admitted
// uncounted).
type offer struct {
	at int64
	id uint32
}

// offerID is the 32-bit FNV-1a hash of interactionID, computed in place
// (hash/fnv's would allocate on the engage path).
func offerID(interactionID string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(interactionID); i++ {
		h = (h ^ uint32(interactionID[i])) * 16777619
	}
	return h
}

// gateVersion starts an encoded visitGate; a record that does not decode
// is read as none.
const gateVersion = 1

func (v *visitGate) encode() []byte {
	b := make([]byte, 0, 3+binary.MaxVarintLen64+(binary.MaxVarintLen64+4)*len(v.offers))
	b = append(b, gateVersion)
	b = binary.AppendUvarint(b, uint64(v.rejected))
	b = binary.AppendUvarint(b, uint64(len(v.offers)))
	for _, o := range v.offers {
		b = binary.AppendUvarint(b, uint64(o.at))
		b = binary.BigEndian.AppendUint32(b, o.id)
	}
	return b
}

func decodeVisitGate(b []byte) (visitGate, bool) {
	var v visitGate
	if len(b) == 0 {
		return v, true
	}
	if b[0] != gateVersion {
		return visitGate{}, false
	}
	b = b[1:]
	next := func() (int64, bool) {
		x, n := binary.Uvarint(b)
		if n <= 0 || x > 1<<62 {
			return 0, false
		}
		b = b[n:]
		return int64(x), true
	}
	var ok bool
	if v.rejected, ok = next(); !ok {
		return visitGate{}, false
	}
	n, ok := next()
	if !ok || n > MaxGateWindow {
		return visitGate{}, false
	}
	v.offers = make([]offer, n)
	for i := range v.offers {
		if v.offers[i].at, ok = next(); !ok || len(b) < 4 {
			return visitGate{}, false
		}
		v.offers[i].id, b = binary.BigEndian.Uint32(b), b[4:]
	}
	return v, len(b) == 0
}

// refuses returns the reason a counting rule refuses an invitation to v
// at now (Unix milliseconds), or "".
func (g *gate) refuses(v *visitGate, now int64) string {
	if g.Cooldown > 0 && v.rejected > 0 && now < v.rejected+g.Cooldown.Milliseconds() {
		return ReasonCooldown
	}
	if n := len(v.offers); g.MinGap > 0 && n > 0 && now < v.offers[n-1].at+g.MinGap.Milliseconds() {
		return ReasonGap
	}
	if g.MaxPerWindow > 0 {
		in := 0
		for _, o := range v.offers {
			if now < o.at+g.Window.Milliseconds() {
				in++
			}
		}
		if in >= g.MaxPerWindow {
			return ReasonWindow
		}
	}
	return ""
}

// counted reports whether v counts an invitation of id already.
func (v *visitGate) counted(id uint32) bool {
	for _, o := range v.offers {
		if o.id == id {
			return true
		}
	}
	return false
}

// offer adds an invitation of id at now to v, forgetting those that no
// longer matter.
func (g *gate) offer(v *visitGate, id uint32, now int64) {
	keep := v.offers[:0]
	for _, o := range v.offers {
		if now < o.at+g.keep.Milliseconds() {
			keep = append(keep, o)
		}
	}
	keep = append(keep, offer{now, id})
	if n := max(g.MaxPerWindow, 1); len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	v.offers = keep
}

// maxGateTries bounds the compare-and-set rounds of one engage: each lost
// round means another broker changed the visit's record meanwhile.
const maxGateTries = 8

// admitNow checks the rules that count nothing, before anything is
// claimed: quiet hours and availability. It returns nil or a suppressed
// Fault.
func (g *gate) admitNow(ctx context.Context, p *gateway.Profile, now time.Time) error {
	if g.quiet(now) {
		return suppressed[ReasonQuietHours]
	}
	if g.Available != nil && !g.Available(ctx, p.Channels) {
		return suppressed[ReasonUnavailable]
	}
	return nil
}

// countOffer checks the rules that count against visitID's record and,
// when they pass, counts interactionID's invitation in it, unless it
// counts it already. It returns nil, a suppressed Fault, or a 503 when the
// backend fails.
func (b *Broker) countOffer(ctx context.Context, visitID, interactionID string, now time.Time) error {
	g, id := b.gate, offerID(interactionID)
	return b.updateVisit(ctx, visitID, func(v *visitGate) (string, bool) {
		ms := now.UnixMilli()
		if v.counted(id) {
			return "", false // a repeated engage: no new invitation
		}
		if r := g.refuses(v, ms); r != "" {
			return r, false
		}
		g.offer(v, id, ms)
		return "", true
	})
}

// suppress returns err, and reports a suppressed engage as an outcome.
func (b *Broker) suppress(p *gateway.Profile, now time.Time, err error) error {
	if b.reporter != nil && errors.Is(err, gateway.ErrEngagementSuppressed) {
		b.queueOutcome(Outcome{VisitID: p.VisitID, InteractionID: p.InteractionID, Result: ResultSuppressed, Time: now}, recordSuppressed, "")
	}
	return err
}

// updateVisit applies change to visitID's record, atomically across the
// brokers: it reads the record, lets change decide, and writes it back at
// the revision read, again if another broker wrote it meanwhile. A reason
// from change refuses; nothing is written then, nor when change reports
// no change.
func (b *Broker) updateVisit(ctx context.Context, visitID string, change func(*visitGate) (reason string, changed bool)) error {
	key := recordKey(recordVisit, visitID)
	for range maxGateTries {
		data, rev, err := b.backend.Load(ctx, key)
		if err != nil {
			return backendUnavailable("Load", err)
		}
		v, ok := decodeVisitGate(data)
		if !ok {
			b.log(slog.LevelWarn, "push: a visit's gating record does not decode; starting afresh", slog.String("visitID", visitID))
		}
		reason, changed := change(&v)
		if reason != "" {
			return suppressed[reason]
		}
		if !changed {
			return nil
		}
		stored, err := b.backend.Store(ctx, key, v.encode(), rev, b.visitExpiry)
		if err != nil {
			return backendUnavailable("Store", err)
		}
		if stored {
			return nil
		}
	}
	return unavailable(time.Second, "push: a visit's gating record changed on every try")
}

// noteRejection records a visitor's rejection for the Gate's Cooldown.
// It runs before the answer is published, so that a rejection answered
// 200 has its cool-down: when the backend fails it returns the 503 that
// refuses the answer, and the page may post it again.
func (b *Broker) noteRejection(ctx context.Context, visitID string, now time.Time) error {
	if b.gate == nil || b.gate.Cooldown <= 0 {
		return nil
	}
	return b.updateVisit(ctx, visitID, func(v *visitGate) (string, bool) {
		v.rejected = now.UnixMilli()
		return "", true
	})
}
