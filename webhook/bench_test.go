package webhook_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/engagekit/gateway/webhook"
)

// BenchmarkSend measures what Send costs the caller, on a disposition's
// request path: checking, encoding and naming the outcome, and queueing it.
// The one worker is held by a receiver that never answers, so nothing is
// delivered meanwhile.
func BenchmarkSend(b *testing.B) {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Once the body is read, the server notices the client going away.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer receiver.Close()
	s, err := webhook.New(receiver.URL, testSecret, &webhook.Options{Workers: 1, QueueSize: b.N + 1})
	if err != nil {
		b.Fatal(err)
	}
	o := outcome(1)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := s.Send(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	s.Close(cancelled)
}

// BenchmarkDelivery measures outcomes delivered per second over loopback by
// the default 4 workers, signing included, to a receiver that answers 204
// at once; BenchmarkPlainPost is its baseline.
func BenchmarkDelivery(b *testing.B) {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	s, err := webhook.New(receiver.URL, testSecret, &webhook.Options{QueueSize: b.N})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Send(context.Background(), outcome(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if got := s.Stats().Delivered; got != uint64(b.N) {
		b.Fatalf("delivered %d of %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "outcomes/s")
}

// BenchmarkPlainPost is the baseline of BenchmarkDelivery: 4 goroutines
// post a body of the same size over loopback, unsigned, with no queue.
func BenchmarkPlainPost(b *testing.B) {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	body := []byte(`{"type":"engagement.outcome","timestamp":"2026-11-29T10:32:25.123Z","data":{"visitID":"v-1","interactionID":"i-1","result":"rejected","time":"2026-11-29T10:32:25.123Z"}}`)
	jobs := make(chan struct{}, b.N)
	for range b.N {
		jobs <- struct{}{}
	}
	close(jobs)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range jobs {
				resp, err := client.Post(receiver.URL, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "outcomes/s")
}
