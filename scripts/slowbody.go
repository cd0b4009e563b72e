//go:build ignore

// Slowbody reproduces issue 10's finding 3 on loopback, bounded in count and
// time: n clients each declare a Content-Length and send their engage body
// one byte every interval, and the program reports how long the handler held
// them. With the default Options.ReadBodyTimeout, each is answered 400 and
// disconnected after about 5 s; with -timeout=off (the old behaviour) each is
// held until the run ends, while an ordinary engage is still served.
//
// Usage: go run scripts/slowbody.go [-n 2000] [-interval 4s] [-for 30s] [-timeout default|off|<duration>]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/engagekit/gateway"
)

func main() {
	n := flag.Int("n", 2000, "slow clients (at most 5000)")
	interval := flag.Duration("interval", 4*time.Second, "time between two bytes of a body")
	runFor := flag.Duration("for", 30*time.Second, "length of the run (at most 2m)")
	timeout := flag.String("timeout", "default", `Options.ReadBodyTimeout: "default", "off" or a duration`)
	flag.Parse()
	if *n < 1 || *n > 5000 || *runFor <= 0 || *runFor > 2*time.Minute {
		log.Fatal("slowbody: -n must be 1..5000 and -for at most 2m")
	}
	opts := &gateway.Options{}
	switch *timeout {
	case "default":
	case "off":
		opts.ReadBodyTimeout = gateway.NoTimeout
	default:
		d, err := time.ParseDuration(*timeout)
		if err != nil {
			log.Fatal(err)
		}
		opts.ReadBodyTimeout = d
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: gateway.NewHandler(gateway.Discard, opts), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()

	body := "ixnProfile=" + url.QueryEscape(`{"interactionID":"i-1","visitID":"v-1","channels":["chat"],"userData":{"pad":"`+strings.Repeat("x", 300)+`"}}`)
	start := time.Now()
	end := start.Add(*runFor)
	held := make([]time.Duration, *n) // until answered or closed; 0: still held at the end
	statuses := make([]string, *n)
	var wg sync.WaitGroup
	for i := range *n {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				statuses[i] = "dial: " + err.Error()
				return
			}
			defer conn.Close()
			t0 := time.Now()
			fmt.Fprintf(conn, "POST /gateway/engage HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", len(body))
			answered := make(chan string, 1)
			go func() {
				conn.SetReadDeadline(end)
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err != nil {
					answered <- ""
					return
				}
				answered <- strings.TrimSpace(line)
			}()
			for k := 0; ; k++ {
				select {
				case line := <-answered:
					if line == "" && time.Now().After(end) {
						return // held to the end
					}
					held[i], statuses[i] = time.Since(t0), or(line, "closed without an answer")
					return
				case <-time.After(*interval):
					if k < len(body) {
						conn.Write([]byte{body[k]})
					}
				}
			}
		})
	}
	// An ordinary engage while the slow clients are held.
	time.Sleep(time.Second)
	t0 := time.Now()
	resp, err := http.Post("http://"+addr+"/gateway/engage", "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	ordinary := fmt.Sprintf("%s in %v", resp.Status, time.Since(t0).Round(time.Millisecond))
	wg.Wait()

	var times []time.Duration
	count := map[string]int{}
	still := 0
	for i := range *n {
		if held[i] == 0 && statuses[i] == "" {
			still++
			continue
		}
		times = append(times, held[i])
		count[statuses[i]]++
	}
	slices.Sort(times)
	fmt.Printf("slow clients: %d, one byte every %v, ReadBodyTimeout %s, run %v\n", *n, *interval, *timeout, *runFor)
	fmt.Printf("ordinary engage meanwhile: %s\n", ordinary)
	fmt.Printf("still held when the run ended: %d\n", still)
	for s, c := range count {
		fmt.Printf("answered %q: %d\n", s, c)
	}
	if len(times) > 0 {
		fmt.Printf("held for: median %v, max %v\n", times[len(times)/2].Round(10*time.Millisecond), times[len(times)-1].Round(10*time.Millisecond))
	}
	if *timeout != "off" && still > 0 {
		os.Exit(1)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
