package push_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

// TestDispositionDecoderIsStrict: the disposition body used to be decoded
// with encoding/json, which matches keys in any letter case, lets the last
// of two equal keys win and takes null for a string, so that
// {"INTERACTIONID":…} answered an invitation. It is now read as engage's
// parameters are: exact keys, each once, strings only (contract §6.6).
func TestDispositionDecoderIsStrict(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"a key in capitals is unknown", `{"INTERACTIONID":"i-1","result":"rejected"}`, 400, "BAD_REQUEST"},
		{"a key in another case is unknown", `{"interactionID":"i-1","Result":"rejected"}`, 400, "BAD_REQUEST"},
		{"a duplicate interactionID is refused", `{"interactionID":"other","interactionID":"i-1","result":"rejected"}`, 400, "BAD_REQUEST"},
		{"a duplicate result is refused", `{"interactionID":"i-1","result":"accepted","result":"rejected"}`, 400, "BAD_REQUEST"},
		{"a duplicate channel is refused", `{"interactionID":"i-1","result":"accepted","channel":"chat","channel":"chat"}`, 400, "BAD_REQUEST"},
		{"a null result is not a string", `{"interactionID":"i-1","result":null}`, 400, "BAD_REQUEST"},
		{"a null channel is not a string", `{"interactionID":"i-1","result":"rejected","channel":null}`, 400, "BAD_REQUEST"},
		{"a number is not a string", `{"interactionID":1,"result":"rejected"}`, 400, "BAD_REQUEST"},
		{"an array is not a string", `{"interactionID":"i-1","result":["rejected"]}`, 400, "BAD_REQUEST"},
		{"an unknown key is refused", `{"interactionID":"i-1","result":"rejected","visitID":"v-1"}`, 400, "BAD_REQUEST"},
		{"a trailing value is refused", `{"interactionID":"i-1","result":"rejected"} 1`, 400, "BAD_REQUEST"},
		{"a trailing comma is refused", `{"interactionID":"i-1","result":"rejected",}`, 400, "BAD_REQUEST"},
		{"invalid UTF-8 is refused", "{\"interactionID\":\"i-1\",\"result\":\"rejected\xff\"}", 400, "BAD_REQUEST"},
		{"an empty body is refused", ``, 400, "BAD_REQUEST"},
		{"a string is not an object", `"i-1"`, 400, "BAD_REQUEST"},
		{"a missing result breaks a rule", `{"interactionID":"i-1"}`, 400, "VALIDATION"},
		{"an empty object breaks rules", `{}`, 400, "VALIDATION"},
		{"escapes decode to the key's text", `{"interaction\u0049D":"i-1","result":"rejected"}`, 200, ""},
		{"white space around the object is allowed", " \n{ \"interactionID\" : \"i-1\" , \"result\" : \"rejected\" }\n", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}); err != nil {
				t.Fatal(err)
			}
			resp, body := e.request(t, "POST", "/notification/v-1/disposition", jsonType, tc.body)
			var f struct{ Status, Code, Message string }
			json.Unmarshal([]byte(body), &f)
			if resp.StatusCode != tc.status || f.Code != tc.code {
				t.Fatalf("got %d %s (%s), want %d %s", resp.StatusCode, f.Code, f.Message, tc.status, tc.code)
			}
			wantLive := 1
			if tc.status == 200 {
				wantLive = 0
			}
			if got := e.b.Stats().Invitations; got != wantLive {
				t.Errorf("live invitations = %d, want %d", got, wantLive)
			}
		})
	}
}

// TestDispositionFaultMessages: a refused disposition says why without
// quoting the input.
func TestDispositionFaultMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct{ name, body, want string }{
		{"a duplicate key", `{"result":"rejected","result":"<b>"}`, "the disposition is not valid JSON: duplicate key at offset 21"},
		{"an unknown key", `{"<b>":"x"}`, "the disposition may hold only interactionID, result and channel"},
		{"a value of another type", `{"result":{"<b>":1}}`, "result must be a string"},
		{"not an object", `[1]`, "the disposition must be a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, body := e.request(t, "POST", "/notification/v-1/disposition", http.Header{"Content-Type": {"text/plain"}}, tc.body)
			var f struct{ Message string }
			json.Unmarshal([]byte(body), &f)
			if diff := cmp.Diff(tc.want, f.Message); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}
