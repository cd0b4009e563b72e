// Command loadserver serves, on two loopback ports, the gateway handler with
// Discard and a bare baseline that reads the body and writes a constant 200,
// so that scripts/loopback-bench.sh can load both with wrk in one run.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"

	"github.com/engagekit/gateway"
)

func main() {
	bare := flag.String("bare", "127.0.0.1:18081", "address of the bare baseline")
	gw := flag.String("gateway", "127.0.0.1:18082", "address of the gateway handler")
	flag.Parse()
	bareHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, `{"status":"OK","interactionID":"0001Ba8MHP5U000A"}`)
	})
	go func() { log.Fatal(http.ListenAndServe(*bare, bareHandler)) }()
	log.Fatal(http.ListenAndServe(*gw, gateway.NewHandler(gateway.Discard, nil)))
}
