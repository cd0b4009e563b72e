package gatewaytest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/gatewaytest"
)

// notifier is a small Notifier that delivers to watchers in memory. Its
// flaw, when set, is one that the suite must catch.
type notifier struct {
	flaw string

	mu        sync.Mutex
	cancelled map[[2]string]bool
	watchers  map[string]chan gatewaytest.Delivery
}

// The flaws the suite must catch, with the check that catches each.
var flaws = map[string]string{
	"keeps the profile":       "the_profile_can_change_after_Engage_returns",
	"keeps the cancelData":    "the_cancelData_can_change_after_Cancel_returns",
	"forgets early cancels":   "a_cancel_before_its_engage_wins",
	"refuses a second cancel": "cancelling_twice_or_an_unknown_attempt_succeeds_and_shows_nothing_again",
	"ignores the context":     "a_call_with_a_done_context_returns_promptly",
}

func newHarness(flaw string) func(t *testing.T) *gatewaytest.Harness {
	return func(t *testing.T) *gatewaytest.Harness {
		n := &notifier{flaw: flaw, cancelled: map[[2]string]bool{}, watchers: map[string]chan gatewaytest.Delivery{}}
		return &gatewaytest.Harness{
			Notifier: n,
			Watch: func(t *testing.T, visitID string) <-chan gatewaytest.Delivery {
				ch := make(chan gatewaytest.Delivery, 16)
				n.mu.Lock()
				defer n.mu.Unlock()
				n.watchers[visitID] = ch
				return ch
			},
			Wait: time.Second,
		}
	}
}

func (n *notifier) Engage(ctx context.Context, p *gateway.Profile) error {
	if n.flaw == "ignores the context" && ctx.Err() != nil {
		time.Sleep(3 * time.Second)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cancelled[[2]string{p.VisitID, p.InteractionID}] && n.flaw != "forgets early cancels" {
		return nil
	}
	if n.flaw == "keeps the profile" {
		go func() {
			time.Sleep(10 * time.Millisecond)
			n.deliver(p)
		}()
		return nil
	}
	n.deliverLocked(*p)
	return nil
}

func (n *notifier) deliver(p *gateway.Profile) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.deliverLocked(*p)
}

func (n *notifier) deliverLocked(p gateway.Profile) {
	if ch := n.watchers[p.VisitID]; ch != nil {
		ch <- gatewaytest.Delivery{Profile: p}
	}
}

func (n *notifier) Cancel(ctx context.Context, c *gateway.CancelData) error {
	if n.flaw == "ignores the context" && ctx.Err() != nil {
		time.Sleep(3 * time.Second)
	}
	if n.flaw == "keeps the cancelData" {
		go func() {
			time.Sleep(10 * time.Millisecond)
			n.cancel(c)
		}()
		return nil
	}
	return n.cancel(c)
}

func (n *notifier) cancel(c *gateway.CancelData) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	key := [2]string{c.VisitID, c.InteractionID}
	if n.cancelled[key] && n.flaw == "refuses a second cancel" {
		return errors.New("already cancelled")
	}
	n.cancelled[key] = true
	if ch := n.watchers[c.VisitID]; ch != nil {
		ch <- gatewaytest.Delivery{Cancel: true, Profile: gateway.Profile{InteractionID: c.InteractionID}}
	}
	return nil
}

func TestRun(t *testing.T) {
	gatewaytest.Run(t, newHarness(""))
}

// flawEnv makes TestFlawed run the suite against a flawed notifier: the
// test TestSuiteCatchesFlaws runs it in a child process and expects it to
// fail.
const flawEnv = "GATEWAYTEST_FLAW"

func TestFlawed(t *testing.T) {
	flaw := os.Getenv(flawEnv)
	if flaw == "" {
		t.Skip("run by TestSuiteCatchesFlaws")
	}
	gatewaytest.Run(t, newHarness(flaw))
}

func TestSuiteCatchesFlaws(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	for flaw, check := range flaws {
		t.Run(flaw, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestFlawed$", "-test.v")
			cmd.Env = append(os.Environ(), flawEnv+"="+flaw)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a notifier that %s:\n%s", flaw, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestFlawed/"+check) {
				t.Errorf("the check %q did not fail:\n%s", check, out)
			}
		})
	}
}
