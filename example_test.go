package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/engagekit/gateway"
)

// Mount the handler on a ServeMux under the GWE 8.5 path. It routes by the
// path's suffix, so any prefix works.
func ExampleNewHandler() {
	n := gateway.Funcs{
		EngageFunc: func(_ context.Context, p *gateway.Profile) error {
			fmt.Printf("invite visit %s to %v\n", p.VisitID, p.Channels)
			return nil
		},
	}
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", gateway.NewHandler(n, nil))

	body := "ixnProfile=" + url.QueryEscape(`{"interactionID":"0001Ba8M","visitID":"f24c60f6","channels":["chat"]}`)
	r := httptest.NewRequest("POST", "/server/data/gateway/engage", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Print(w.Code, " ", w.Body.String())
	// Output:
	// invite visit f24c60f6 to [chat]
	// 200 {"status":"OK","interactionID":"0001Ba8M"}
}

// visitDirectory is a custom Notifier: it refuses a second live invitation
// for a visit, the way strict mode does, and says so with the sentinel the
// handler maps to ENGAGEMENT_IN_PROGRESS.
type visitDirectory struct{ live map[string]string } // visitID → interactionID

func (d *visitDirectory) Engage(_ context.Context, p *gateway.Profile) error {
	if id, ok := d.live[p.VisitID]; ok && id != p.InteractionID {
		return fmt.Errorf("visit %s shows %s: %w", p.VisitID, id, gateway.ErrEngagementInProgress)
	}
	d.live[p.VisitID] = p.InteractionID
	return nil
}

func (d *visitDirectory) Cancel(_ context.Context, c *gateway.CancelData) error {
	if d.live[c.VisitID] == c.InteractionID {
		delete(d.live, c.VisitID)
	}
	return nil
}

// A custom Notifier: its errors become FAULT codes through errors.Is.
func ExampleNotifier() {
	h := gateway.NewHandler(&visitDirectory{live: map[string]string{}}, nil)
	for _, id := range []string{"first", "second"} {
		body := `{"interactionID":"` + id + `","visitID":"v-1","channels":["chat"]}`
		r := httptest.NewRequest("POST", "/gateway/engage", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Print(w.Code, " ", w.Body.String())
	}
	// Output:
	// 200 {"status":"OK","interactionID":"first"}
	// 400 {"status":"FAULT","code":"ENGAGEMENT_IN_PROGRESS","message":"the visit already has a live invitation"}
}

// Reading a VALIDATION Fault: Validate reports every broken rule by JSON
// field name.
func ExampleFault_validation() {
	p := gateway.Profile{InteractionID: "0001", Channels: []string{"chat", "chat"}, ExpiresIn: 3600}
	var ve *gateway.Fault
	if err := p.Validate(); errors.As(err, &ve) {
		fmt.Println(ve.Code, ve.Message)
		for _, f := range ve.Fields {
			fmt.Printf("%s: %s (%s)\n", f.Field, f.Message, f.Rule)
		}
	}
	// Output:
	// VALIDATION ixnProfile is invalid
	// visitID: visitID is required (required)
	// channels: channels must not repeat an entry (unique)
	// expiresIn: expiresIn must be at most 1800 (max)
}

// Reading a FAULT from a server: the Client returns it as a *Fault, which
// matches the sentinel of its code, as the server's own did.
func ExampleFault() {
	srv := httptest.NewServer(gateway.NewHandler(gateway.Funcs{
		EngageFunc: func(context.Context, *gateway.Profile) error { return gateway.ErrEngagementInProgress },
	}, nil))
	defer srv.Close()
	c, _ := gateway.NewClient(srv.URL, nil)
	err := c.Engage(context.Background(), &gateway.Profile{InteractionID: "i-2", VisitID: "v-1", Channels: []string{"chat"}})
	var fe *gateway.Fault
	if errors.As(err, &fe) {
		fmt.Println(fe.Status, fe.Code, fe.Message)
	}
	fmt.Println(errors.Is(err, gateway.ErrEngagementInProgress))
	// Output:
	// 400 ENGAGEMENT_IN_PROGRESS the visit already has a live invitation
	// true
}
