package push_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/engagekit/gateway/push"
)

// Behind one reverse proxy that appends the address it accepted from to
// X-Forwarded-For, the last entry is the client's; the entries before it
// are whatever the client sent. Only requests that come from the proxy
// are read that way.
func ExampleOptions_clientKey() {
	const proxy = "10.0.0.5"
	clientKey := func(r *http.Request) string {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		xff := r.Header.Values("X-Forwarded-For")
		if host != proxy || len(xff) == 0 {
			return push.RemoteClient(r)
		}
		last := xff[len(xff)-1]
		last = strings.TrimSpace(last[strings.LastIndexByte(last, ',')+1:])
		// RemoteClient reads only RemoteAddr: it groups IPv6 by /64 here too.
		return push.RemoteClient(&http.Request{RemoteAddr: net.JoinHostPort(last, "0")})
	}
	broker := push.NewBroker(&push.Options{ClientKey: clientKey})
	defer broker.Shutdown(context.Background())

	r, _ := http.NewRequest("GET", "/notification/v-1", nil)
	r.RemoteAddr = proxy + ":41000"
	r.Header.Set("X-Forwarded-For", "203.0.113.9, 2001:db8:aa:bb::77")
	fmt.Println(clientKey(r))
	r.RemoteAddr = "198.51.100.4:52000" // not through the proxy: its header is not trusted
	fmt.Println(clientKey(r))
	// Output:
	// 2001:db8:aa:bb::/64
	// 198.51.100.4
}
