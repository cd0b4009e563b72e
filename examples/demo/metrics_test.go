package main

import (
	"bufio"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/examples/internal/shop"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
)

var metricsSample = flag.String("metrics-sample", "", "write the gateway's series of TestMetricsScrape's last scrape, buckets left out, to this file (the README's sample)")

// scrape reads the demo's /metrics with the engage credentials and
// returns the series of the gateway's instruments, each as its name and
// the labels it has among those the tests look at, in the order
// Prometheus writes them.
func scrape(t *testing.T, base string) (map[string]float64, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	got := map[string]float64{}
	var sample strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "gateway_") {
			continue
		}
		if !strings.Contains(line, "_bucket{") {
			sample.WriteString(line + "\n")
		}
		series, value, _ := strings.Cut(line, " ")
		name, labels, _ := strings.Cut(series, "{")
		var keep []string
		for _, l := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
			if strings.HasPrefix(l, "gateway_") {
				keep = append(keep, l)
			}
		}
		if strings.HasSuffix(name, "_bucket") || strings.HasSuffix(name, "_sum") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got[name+"{"+strings.Join(keep, ",")+"}"] = v
	}
	return got, sample.String()
}

// TestMetricsScrape: the counters on /metrics move after an engage, a
// shown report, a disposition and a cancel; /metrics wants the engage
// credentials, the probes do not, and /readyz says when the broker stops.
func TestMetricsScrape(t *testing.T) {
	key, _ := push.NewTokenKey("k1")
	d := NewDemo(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Security: shop.Security{Credentials: engageauth.Credentials{User: user, Password: password}, TokenKey: &key}})
	srv := httptest.NewServer(d.Handler)
	defer srv.Close()
	defer d.Broker.Shutdown(context.Background())
	get := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for path, want := range map[string]int{"/metrics": 401, "/healthz": 200, "/readyz": 200} {
		if got := get(path); got != want {
			t.Errorf("GET %s without credentials: %d, want %d", path, got, want)
		}
	}
	before, _ := scrape(t, srv.URL)

	token, err := push.MintToken(key, push.TokenClaims{VisitID: "v-1", IssuedAt: time.Now(), Expiry: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/notification/v-1?token=" + token)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", err, resp.Status)
	}
	defer resp.Body.Close()
	events := bufio.NewScanner(resp.Body)
	wait := func(event string) {
		t.Helper()
		for events.Scan() {
			if events.Text() == "event: "+event {
				return
			}
		}
		t.Fatalf("the stream ended before a %s event", event)
	}
	report := func(body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/notification/v-1/disposition", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", body, err, resp.Status)
		}
		resp.Body.Close()
	}
	post(t, srv.URL, "/server/data/gateway/engage", "ixnProfile", `{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}`)
	wait("engage")
	report(`{"interactionID":"i-1","result":"shown"}`)
	report(`{"interactionID":"i-1","result":"accepted","channel":"chat"}`)
	wait("cancel")
	report(`{"interactionID":"i-1","result":"submitted"}`) // the form: the visit is free again
	post(t, srv.URL, "/server/data/gateway/engage", "ixnProfile", `{"interactionID":"i-2","visitID":"v-1","channels":["chat"]}`)
	wait("engage")
	post(t, srv.URL, "/server/data/gateway/noengage", "cancelData", `{"interactionID":"i-2","visitID":"v-1"}`)
	wait("cancel")

	after, sample := scrape(t, srv.URL)
	if *metricsSample != "" {
		os.WriteFile(*metricsSample, []byte(sample), 0o644)
	}
	moved := map[string]float64{}
	for k, v := range after {
		if v != before[k] {
			moved[k] = v - before[k]
		}
	}
	want := map[string]float64{
		`gateway_requests_total{gateway_code="OK",gateway_operation="engage"}`:                   2,
		`gateway_requests_total{gateway_code="OK",gateway_operation="noengage"}`:                 1,
		`gateway_request_duration_seconds_count{gateway_code="OK",gateway_operation="engage"}`:   2,
		`gateway_request_duration_seconds_count{gateway_code="OK",gateway_operation="noengage"}`: 1,
		`gateway_invitations_total{gateway_invitation_stage="offered"}`:                          2,
		`gateway_invitations_total{gateway_invitation_stage="delivered"}`:                        2,
		`gateway_invitations_total{gateway_invitation_stage="shown"}`:                            1,
		`gateway_invitations_total{gateway_invitation_stage="accepted"}`:                         1,
		`gateway_invitations_total{gateway_invitation_stage="cancelled"}`:                        1,
		`gateway_delivery_duration_seconds_count{}`:                                              2,
		`gateway_streams_opened_total{}`:                                                         1,
		`gateway_streams{}`:                                                                      1,
		`gateway_tombstones{}`:                                                                   2,
	}
	if diff := cmp.Diff(want, moved); diff != "" {
		t.Errorf("what moved on /metrics (-want +got):\n%s", diff)
	}

	d.Broker.Shutdown(context.Background())
	if got := get("/readyz"); got != 503 {
		t.Errorf("/readyz after Shutdown: %d, want 503", got)
	}
}
