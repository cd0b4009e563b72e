package push_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// Mount the broker beside the gateway: engages become events on the
// visitor's stream.
func ExampleBroker() {
	broker := push.NewBroker(nil)
	defer broker.Shutdown(context.Background())
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", gateway.NewHandler(broker, nil))
	mux.Handle("/notification/", broker)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// The strategy engages before the page subscribes: the invitation waits.
	http.Post(srv.URL+"/server/data/gateway/engage", "application/json",
		strings.NewReader(`{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}`))

	// The visitor's page (visitor.js uses EventSource) subscribes.
	resp, err := http.Get(srv.URL + "/notification/v-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if line := lines.Text(); strings.HasPrefix(line, "event:") || strings.HasPrefix(line, "id:") {
			fmt.Println(line)
		} else if strings.HasPrefix(line, "data:") {
			break
		}
	}
	// Output:
	// event: engage
	// id: i-1
}
