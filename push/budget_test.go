package push_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// The tests of this file reproduce finding 4 of the hardening review
// (issue 10): MaxInvitations bounded the count of pending invitations but
// not their size, so 100,000 of the largest took 2.78 GB of heap, and a
// lenient visit could hold them all. Each failed on the code before the
// fix.

// largestProfile returns the largest valid profile: every field at its
// longest, and every character of the invitation's text one that the
// engage frame escapes into six bytes. n makes its IDs unique.
func largestProfile(t testing.TB, n int) *gateway.Profile {
	t.Helper()
	pad := func(prefix string, size int) string { return prefix + strings.Repeat("x", size-len(prefix)) }
	var channels []string
	for i := range 8 {
		channels = append(channels, pad(fmt.Sprint("c", i, "-"), 32))
	}
	suffix := strconv.Itoa(n)
	p := &gateway.Profile{
		InteractionID: pad("i-"+suffix+"-", 64),
		VisitID:       pad("v-"+suffix+"-", 128),
		PageID:        pad("p-", 128),
		Channels:      channels,
		Language:      "en-x-aaaaaaaa-bbbbbbbb-cccccccc-ddd",
		ExpiresIn:     1800,
		Invitation: &gateway.Invitation{
			Title:   strings.Repeat("<", 200),
			Message: strings.Repeat("\u2028", 2000),
			URL:     "https://shop.example/?" + strings.Repeat("&", 2048-len("https://shop.example/?")),
		},
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("the largest profile is not valid: %v", err)
	}
	return p
}

// TestInvitationBytesAreBounded: past MaxInvitationBytes an engage is
// refused 503 with a Retry-After, before anything is claimed or published,
// and the room comes back as invitations end.
func TestInvitationBytesAreBounded(t *testing.T) {
	t.Parallel()
	const budget = 1 << 20
	e := newEnv(t, &push.Options{MaxInvitationBytes: budget})
	ctx := context.Background()
	accepted := 0
	var refusal error
	for i := range 1000 {
		if err := e.b.Engage(ctx, largestProfile(t, i)); err != nil {
			refusal = err
			break
		}
		accepted++
	}
	var f *gateway.Fault
	if !errors.As(refusal, &f) || !errors.Is(refusal, gateway.ErrUnavailable) || f.RetryAfter <= 0 {
		t.Fatalf("after %d of the largest invitations: %v, want a 503 with a Retry-After", accepted, refusal)
	}
	st := e.b.Stats()
	if st.InvitationBytes < budget || st.InvitationBytes > budget+64<<10 {
		t.Errorf("InvitationBytes = %d at the refusal, want the budget %d or at most one invitation more", st.InvitationBytes, budget)
	}
	if perInv := st.InvitationBytes / int64(accepted); perInv < 20<<10 {
		t.Errorf("the largest invitation is counted as %d bytes: less than its frame", perInv)
	}
	t.Logf("%d of the largest invitations in %d bytes: %d bytes each", accepted, st.InvitationBytes, st.InvitationBytes/int64(accepted))

	// The refused engage left nothing behind: its visit can be engaged
	// once there is room, and a cancel makes room.
	p0 := largestProfile(t, 0)
	e.cancel(t, p0.VisitID, p0.InteractionID)
	if err := e.b.Engage(ctx, largestProfile(t, accepted)); err != nil {
		t.Errorf("once an invitation ended: %v", err)
	}
	if got := e.b.Stats().InvitationBytes; got != st.InvitationBytes {
		t.Errorf("InvitationBytes = %d after one ended and one of the same size began, want %d", got, st.InvitationBytes)
	}
	for i := range accepted + 1 {
		p := largestProfile(t, i)
		e.cancel(t, p.VisitID, p.InteractionID)
	}
	if st := e.b.Stats(); st.InvitationBytes != 0 || st.Invitations != 0 {
		t.Errorf("after every cancel: %d invitations in %d bytes, want none", st.Invitations, st.InvitationBytes)
	}
}

// TestInvitationBytesAreFreedOnExpiryAndAnswer: every way an invitation
// ends gives its bytes back.
func TestInvitationBytesAreFreedOnExpiryAndAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1", ExpiresIn: 1}); err != nil {
		t.Fatal(err)
	}
	if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-2"}); err != nil {
		t.Fatal(err)
	}
	if got := e.b.Stats().InvitationBytes; got <= 0 {
		t.Fatalf("InvitationBytes = %d with two live invitations", got)
	}
	if resp, body := e.request(t, "POST", "/notification/v-2/disposition", jsonType, `{"interactionID":"i-2","result":"rejected"}`); resp.StatusCode != 200 {
		t.Fatalf("disposition: %s %s", resp.Status, body)
	}
	e.clock.Add(2 * time.Second)
	e.b.Sweep()
	if st := e.b.Stats(); st.InvitationBytes != 0 || st.Invitations != 0 {
		t.Errorf("after an answer and an expiry: %d invitations in %d bytes, want none", st.Invitations, st.InvitationBytes)
	}
}

// TestInvitationsPerVisitAreBounded: in lenient mode one visit used to be
// able to hold every live invitation. Past MaxInvitationsPerVisit (16 by
// default) an engage for it is refused 503; other visits are not.
func TestInvitationsPerVisitAreBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		opts  push.Options
		limit int
	}{
		{"by default, 16", push.Options{Lenient: true}, 16},
		{"as set", push.Options{Lenient: true, MaxInvitationsPerVisit: 3}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, &tc.opts)
			for i := range tc.limit {
				if err := e.engage(t, gateway.Profile{InteractionID: fmt.Sprint("i-", i), VisitID: "v-1"}); err != nil {
					t.Fatalf("engage %d: %v", i, err)
				}
			}
			err := e.engage(t, gateway.Profile{InteractionID: "one-more", VisitID: "v-1"})
			var f *gateway.Fault
			if !errors.As(err, &f) || !errors.Is(err, gateway.ErrUnavailable) || f.RetryAfter <= 0 {
				t.Fatalf("past the limit: %v, want a 503 with a Retry-After", err)
			}
			if err := e.engage(t, gateway.Profile{InteractionID: "one-more", VisitID: "v-2"}); err != nil {
				t.Errorf("another visit: %v", err)
			}
			// Again an engage of a live invitation: accepted, as it adds none.
			if err := e.engage(t, gateway.Profile{InteractionID: "i-0", VisitID: "v-1"}); err != nil {
				t.Errorf("an engage of a live invitation: %v", err)
			}
			e.cancel(t, "v-1", "i-0")
			if err := e.engage(t, gateway.Profile{InteractionID: "one-more", VisitID: "v-1"}); err != nil {
				t.Errorf("once one ended: %v", err)
			}
		})
	}
}

// TestAppliedEventsAreNeverRefused: the budget is checked when an engage
// is admitted, never when an event is applied. A broker whose budget is
// spent still applies and delivers what another broker admitted (its
// count may then pass its budget), and refuses its own engages.
func TestAppliedEventsAreNeverRefused(t *testing.T) {
	t.Parallel()
	backend := push.NewMemoryBackend(nil)
	const budget = 64 << 10
	small := newEnv(t, &push.Options{Backend: backend, Lenient: true, MaxInvitationBytes: budget})
	large := newEnv(t, &push.Options{Backend: backend, Lenient: true})
	s := small.subscribe(t, "/notification/v-1", nil)
	const n = 12
	for i := range n {
		p := largestProfile(t, i)
		p.VisitID, p.PageID = "v-1", ""
		if err := large.b.Engage(context.Background(), p); err != nil {
			t.Fatalf("engage %d on the broker with room: %v", i, err)
		}
		wantEngage(t, s.next(t), p.InteractionID)
	}
	if st := small.b.Stats(); st.Invitations != n || st.InvitationBytes <= budget {
		t.Errorf("the broker with the small budget holds %d invitations in %d bytes, want %d, past its budget %d", st.Invitations, st.InvitationBytes, n, budget)
	}
	if err := small.engage(t, gateway.Profile{InteractionID: "i-small", VisitID: "v-2"}); !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("an engage on the broker past its budget: %v, want ErrUnavailable", err)
	}
}

// TestInvitationBytesTrackTheHeap: what the broker counts for its
// invitations is within a factor of 1.5 of the heap they take, for the
// smallest and the largest, so that MaxInvitationBytes bounds memory as
// it says. Not parallel: it reads the heap.
func TestInvitationBytesTrackTheHeap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int
		profile func(i int) *gateway.Profile
	}{
		{"the largest invitations", 2000, func(i int) *gateway.Profile { return largestProfile(t, i) }},
		{"small invitations", 50_000, func(i int) *gateway.Profile {
			return &gateway.Profile{InteractionID: "i-1", VisitID: fmt.Sprint("v-", i), Channels: []string{"chat"}}
		}},
		{"lenient: many invitations per visit", 50_000, func(i int) *gateway.Profile {
			return &gateway.Profile{InteractionID: fmt.Sprint("i-", i), VisitID: fmt.Sprint("v-", i/16), Channels: []string{"chat"}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := push.NewBroker(&push.Options{Heartbeat: time.Hour, Lenient: strings.HasPrefix(tc.name, "lenient")})
			defer b.Shutdown(context.Background())
			profiles := make([]*gateway.Profile, tc.n)
			for i := range profiles {
				profiles[i] = tc.profile(i)
			}
			before := heapBytes()
			for _, p := range profiles {
				if err := b.Engage(context.Background(), p); err != nil {
					t.Fatal(err)
				}
			}
			after := heapBytes()
			runtime.KeepAlive(profiles)
			counted := b.Stats().InvitationBytes
			heap := int64(after) - int64(before)
			ratio := float64(counted) / float64(heap)
			t.Logf("%d invitations: counted %d bytes, the heap grew by %d: %.0f and %.0f bytes each, ratio %.2f",
				tc.n, counted, heap, float64(counted)/float64(tc.n), float64(heap)/float64(tc.n), ratio)
			if ratio < 1/1.5 || ratio > 1.5 {
				t.Errorf("counted %d bytes for a heap of %d: ratio %.2f, want within a factor of 1.5", counted, heap, ratio)
			}
		})
	}
}

// heapBytes is the size of the heap's live objects, after GC.
func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkInvitationBudget fills the default MaxInvitationBytes with the
// largest valid invitations, one visit each, strict mode, and reports how
// many fit, the bytes counted, the heap they take, and the process's
// resident memory at the end and at its peak while filling (Linux). Run
// it with -benchtime 1x: the figures come from the setup.
func BenchmarkInvitationBudget(b *testing.B) {
	resetPeakRSS()
	br := push.NewBroker(&push.Options{Heartbeat: time.Hour})
	defer br.Shutdown(context.Background())
	base := heapBytes()
	ctx := context.Background()
	n := 0
	for ; ; n++ {
		err := br.Engage(ctx, largestProfile(b, n))
		if errors.Is(err, gateway.ErrUnavailable) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	heap := heapBytes() - base
	st := br.Stats()
	rss, peak := residentBytes()
	for b.Loop() {
	}
	const mib = 1 << 20
	b.ReportMetric(float64(n), "invitations")
	b.ReportMetric(float64(st.InvitationBytes)/mib, "MiB-counted")
	b.ReportMetric(float64(heap)/mib, "MiB-heap")
	b.ReportMetric(float64(rss)/mib, "MiB-RSS")
	b.ReportMetric(float64(peak)/mib, "MiB-RSS-peak")
}

// resetPeakRSS resets the process's peak resident memory (Linux 4.0+).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// residentBytes returns the process's resident memory and its peak since
// resetPeakRSS, from /proc/self/status; zero where there is none.
func residentBytes() (rss, peak uint64) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for line := range strings.Lines(string(status)) {
		name, value, _ := strings.Cut(line, ":")
		kib, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			rss = kib << 10
		case "VmHWM":
			peak = kib << 10
		}
	}
	return rss, peak
}
