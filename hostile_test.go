package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/engagekit/gateway"
)

// marker is planted in hostile payloads: no answer may repeat it.
const marker = "ZQXJ<script>"

// TestHostileRequests sends broken and hostile requests. Each must get its
// documented status and a FAULT body that quotes none of the input: never a
// 5xx, never a panic.
func TestHostileRequests(t *testing.T) {
	t.Parallel()
	const (
		form  = "application/x-www-form-urlencoded"
		js    = "application/json"
		path  = "/server/data/gateway/engage"
		cpath = "/server/data/gateway/noengage"
	)
	enc := func(s string) string { return "ixnProfile=" + url.QueryEscape(s) }
	valid := func(extra string) string {
		return `{"interactionID":"i-1","visitID":"v-1","channels":["chat"]` + extra + `}`
	}
	long := func(n int) string { return strings.Repeat("a", n) }
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	huge := strings.Repeat("x", 10<<20)
	for _, tc := range []struct {
		name, method, path, ct, body string
		status                       int
		code                         string
	}{
		{"broken JSON", "", "", form, enc(`{"interactionID":` + marker), 400, "BAD_REQUEST"},
		{"truncated JSON", "", "", form, enc(valid("")[:30]), 400, "BAD_REQUEST"},
		{"trailing garbage", "", "", form, enc(valid("") + marker), 400, "BAD_REQUEST"},
		{"two objects", "", "", js, valid("") + valid(""), 400, "BAD_REQUEST"},
		{"array", "", "", form, enc(`["` + marker + `"]`), 400, "BAD_REQUEST"},
		{"number", "", "", form, enc(`42`), 400, "BAD_REQUEST"},
		{"null", "", "", form, enc(`null`), 400, "BAD_REQUEST"},
		{"string", "", "", form, enc(`"` + marker + `"`), 400, "BAD_REQUEST"},
		{"JSON wrapper holding null", "", "", js, `{"ixnProfile":null}`, 400, "BAD_REQUEST"},
		{"JSON wrapper holding an array", "", "", js, `{"ixnProfile":[1]}`, 400, "BAD_REQUEST"},
		{"double-encoded string that is not an object", "", "", js, `{"ixnProfile":"\"` + marker + `\""}`, 400, "BAD_REQUEST"},
		{"double-encoded broken JSON", "", "", js, `{"ixnProfile":"{\"visitID\":"}`, 400, "BAD_REQUEST"},
		{"JSON wrapper with other keys", "", "", js, `{"ixnProfile":` + valid("") + `,"x":1}`, 400, "BAD_REQUEST"},
		{"10,000-deep nesting", "", "", js, deep, 400, "BAD_REQUEST"},
		{"2,000-deep nesting in userData", "", "", form, enc(valid(`,"userData":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000))), 400, "BAD_REQUEST"},
		{"10 MB body", "", "", form, "ixnProfile=" + huge, 413, "PAYLOAD_TOO_LARGE"},
		{"10 MB JSON body", "", "", js, `{"x":"` + huge + `"}`, 413, "PAYLOAD_TOO_LARGE"},
		{"900 KB profile in the query string", "", path + "?" + enc(valid(`,"userData":{"x":"`+huge[:900<<10]+`"}`)), form, "", 413, "PAYLOAD_TOO_LARGE"},
		{"multipart in latin1", "", "", "multipart/form-data; boundary=b; charset=ISO-8859-1", "--b\r\nContent-Disposition: form-data; name=\"ixnProfile\"\r\n\r\n" + valid("") + "\r\n--b--\r\n", 400, "BAD_REQUEST"},
		{"invalid UTF-8", "", "", js, valid(`,"pageID":"` + marker + "\xff\xfe" + `"`), 400, "BAD_REQUEST"},
		{"NUL byte in a string", "", "", js, valid(`,"pageID":"a` + "\x00" + marker + `"`), 400, "BAD_REQUEST"},
		{"escaped NUL in an ID", "", "", js, valid(`,"pageID":"a\u0000` + marker + `"`), 400, "VALIDATION"},
		{"over-long interactionID", "", "", js, `{"interactionID":"` + long(65) + `","visitID":"v","channels":["chat"]}`, 400, "VALIDATION"},
		{"over-long visitID", "", "", js, `{"interactionID":"i","visitID":"` + long(129) + `","channels":["chat"]}`, 400, "VALIDATION"},
		{"over-long title", "", "", js, valid(`,"invitation":{"title":"` + long(201) + `"}`), 400, "VALIDATION"},
		{"over-long message", "", "", js, valid(`,"invitation":{"message":"` + long(2001) + `"}`), 400, "VALIDATION"},
		{"over-long channel", "", "", js, `{"interactionID":"i","visitID":"v","channels":["` + long(33) + `"]}`, 400, "VALIDATION"},
		{"nine channels", "", "", js, `{"interactionID":"i","visitID":"v","channels":["a","b","c","d","e","f","g","h","i"]}`, 400, "VALIDATION"},
		{"no channels", "", "", js, `{"interactionID":"i","visitID":"v","channels":[]}`, 400, "VALIDATION"},
		{"duplicate channels", "", "", js, `{"interactionID":"i","visitID":"v","channels":["chat","chat"]}`, 400, "VALIDATION"},
		{"channel with capitals", "", "", js, `{"interactionID":"i","visitID":"v","channels":["Chat` + marker + `"]}`, 400, "VALIDATION"},
		{"ID with spaces", "", "", js, `{"interactionID":"i ` + marker + `","visitID":"v","channels":["chat"]}`, 400, "VALIDATION"},
		{"channels as a string", "", "", js, `{"interactionID":"i","visitID":"v","channels":"chat"}`, 400, "VALIDATION"},
		{"channels holding numbers", "", "", js, `{"interactionID":"i","visitID":"v","channels":[1,2]}`, 400, "VALIDATION"},
		{"interactionID as a number", "", "", js, `{"interactionID":12,"visitID":"v","channels":["chat"]}`, 400, "VALIDATION"},
		{"expiresIn as a string", "", "", js, valid(`,"expiresIn":"30"`), 400, "VALIDATION"},
		{"expiresIn fractional", "", "", js, valid(`,"expiresIn":1.5`), 400, "VALIDATION"},
		{"expiresIn negative", "", "", js, valid(`,"expiresIn":-1`), 400, "VALIDATION"},
		{"expiresIn too long", "", "", js, valid(`,"expiresIn":1801`), 400, "VALIDATION"},
		{"expiresIn beyond int64", "", "", js, valid(`,"expiresIn":99999999999999999999999`), 400, "VALIDATION"},
		{"userData not an object", "", "", js, valid(`,"userData":"` + marker + `"`), 400, "VALIDATION"},
		{"invitation with other keys", "", "", js, valid(`,"invitation":{"title":"t","` + marker + `":1}`), 400, "VALIDATION"},
		{"invitation URL not http", "", "", js, valid(`,"invitation":{"url":"javascript:alert('` + marker + `')"}`), 400, "VALIDATION"},
		{"invitation URL relative", "", "", js, valid(`,"invitation":{"url":"/inv.html"}`), 400, "VALIDATION"},
		{"language not BCP 47", "", "", js, valid(`,"language":"` + marker + `"`), 400, "VALIDATION"},
		{"duplicate key", "", "", js, `{"interactionID":"i","interactionID":"j","visitID":"v","channels":["chat"]}`, 400, "BAD_REQUEST"},
		{"charset latin1", "", "", form + "; charset=ISO-8859-1", enc(valid("")), 400, "BAD_REQUEST"},
		{"charset on JSON", "", "", js + "; charset=utf-16", valid(""), 400, "BAD_REQUEST"},
		{"text/plain", "", "", "text/plain", valid(""), 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"XML", "", "", "application/xml", "<ixnProfile/>", 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"multipart without boundary", "", "", "multipart/form-data", "x", 400, "BAD_REQUEST"},
		{"GET", "GET", "", "", "", 405, "METHOD_NOT_ALLOWED"},
		{"PUT", "PUT", "", form, enc(valid("")), 405, "METHOD_NOT_ALLOWED"},
		{"DELETE on noengage", "DELETE", cpath, "", "", 405, "METHOD_NOT_ALLOWED"},
		{"empty body", "", "", form, "", 400, "BAD_REQUEST"},
		{"empty body, no type", "", "", "", "", 400, "BAD_REQUEST"},
		{"white space only", "", "", js, "  \n ", 400, "BAD_REQUEST"},
		{"other parameter only", "", "", form, "foo=" + marker, 400, "BAD_REQUEST"},
		{"parameter twice", "", "", form, enc(valid("")) + "&" + enc(valid("")), 400, "BAD_REQUEST"},
		{"bad percent escape", "", "", form, "ixnProfile=%7B%ZZ" + marker, 400, "BAD_REQUEST"},
		{"truncated percent escape", "", "", form, "ixnProfile=%7", 400, "BAD_REQUEST"},
		{"cancelData on engage", "", "", form, "cancelData=" + url.QueryEscape(`{"interactionID":"i","visitID":"v"}`), 400, "BAD_REQUEST"},
		{"cancel without visitID", "", cpath, js, `{"interactionID":"i"}`, 400, "VALIDATION"},
		{"cancel with bad reason", "", cpath, js, `{"interactionID":"i","visitID":"v","reason":"` + marker + `"}`, 400, "VALIDATION"},
		{"cancel as array", "", cpath, js, `[]`, 400, "BAD_REQUEST"},
		{"unknown path", "", "/server/data/gateway/" + url.PathEscape(marker), form, enc(valid("")), 404, "NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := gateway.NewHandler(gateway.Discard, nil)
			w := do(t, h, or(tc.method, http.MethodPost), or(tc.path, path), tc.ct, tc.body)
			resp := decode(t, w)
			if w.Code != tc.status || resp.Status != "FAULT" || resp.Code != tc.code {
				t.Fatalf("got %d %s %s, want %d FAULT %s: %s", w.Code, resp.Status, resp.Code, tc.status, tc.code, resp.Message)
			}
			if body := w.Body.String(); strings.Contains(body, "ZQXJ") || strings.Contains(body, "aaaaaaaa") {
				t.Errorf("the answer quotes the input: %s", body)
			}
			if resp.Code == "VALIDATION" && len(resp.Fields) == 0 {
				t.Errorf("VALIDATION without fields")
			}
			if resp.Code != "VALIDATION" && len(resp.Fields) != 0 {
				t.Errorf("fields on %s", resp.Code)
			}
		})
	}
}
