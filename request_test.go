package gateway_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

// request is one request for a table: the handler answers it through a
// recorder.
type request struct {
	target, contentType, body string
	header                    http.Header
}

func (rq request) serve(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, or(rq.target, "/server/data/gateway/engage"), strings.NewReader(rq.body))
	if rq.contentType != "" {
		r.Header.Set("Content-Type", rq.contentType)
	}
	for k, v := range rq.header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// verdict is what a table expects of an answer: the status and, for a
// FAULT, its code.
type verdict struct {
	Status int
	Code   string
}

func verdictOf(t *testing.T, w *httptest.ResponseRecorder) verdict {
	t.Helper()
	resp := decode(t, w)
	return verdict{w.Code, resp.Code}
}

var (
	ok200       = verdict{200, ""}
	badRequest  = verdict{400, "BAD_REQUEST"}
	tooLarge    = verdict{413, "PAYLOAD_TOO_LARGE"}
	unsupported = verdict{415, "UNSUPPORTED_MEDIA_TYPE"}
)

// profileOfSize returns a valid ixnProfile of exactly n bytes of JSON text,
// padded in userData.
func profileOfSize(t *testing.T, n int) string {
	t.Helper()
	const head, tail = `{"interactionID":"i-1","visitID":"v-1","channels":["chat"],"userData":{"pad":"`, `"}}`
	pad := n - len(head) - len(tail)
	if pad < 0 {
		t.Fatalf("no profile is as small as %d bytes", n)
	}
	return head + strings.Repeat("x", pad) + tail
}

// multipartWith returns the Content-Type and body of a multipart form whose
// one part, ixnProfile, has the given part headers and raw content.
func multipartWith(t *testing.T, hdr textproto.MIMEHeader, content string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{"Content-Disposition": {`form-data; name="ixnProfile"`}}
	for k, v := range hdr {
		h[k] = v
	}
	pw, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte(content))
	mw.Close()
	return mw.FormDataContentType(), b.String()
}

// TestParameterLimitAppliesToEverySource sends the same profile, once just
// under the limit and once over it, from every place contract §2 lets the
// parameter come from. The query string used to take any size the server
// let through (900 KB in issue 10).
func TestParameterLimitAppliesToEverySource(t *testing.T) {
	t.Parallel()
	const limit = 2048
	h := gateway.NewHandler(gateway.Discard, &gateway.Options{MaxBodyBytes: limit})
	sources := []struct {
		name string
		req  func(t *testing.T, profile string) request
	}{
		{"form body", func(t *testing.T, p string) request {
			return request{contentType: "application/x-www-form-urlencoded", body: "ixnProfile=" + url.QueryEscape(p)}
		}},
		{"JSON body", func(t *testing.T, p string) request {
			return request{contentType: "application/json", body: p}
		}},
		{"query string", func(t *testing.T, p string) request {
			return request{target: "/gateway/engage?ixnProfile=" + url.QueryEscape(p), contentType: "application/x-www-form-urlencoded"}
		}},
		{"query string with no body type", func(t *testing.T, p string) request {
			return request{target: "/gateway/engage?ixnProfile=" + url.QueryEscape(p)}
		}},
		{"query string beside a multipart body without the parameter", func(t *testing.T, p string) request {
			ct, body := multipartBody(t, map[string]string{"other": "x"})
			return request{target: "/gateway/engage?ixnProfile=" + url.QueryEscape(p), contentType: ct, body: body}
		}},
		{"multipart part", func(t *testing.T, p string) request {
			ct, body := multipartBody(t, map[string]string{"ixnProfile": p})
			return request{contentType: ct, body: body}
		}},
	}
	for _, src := range sources {
		// The profile that fits leaves room for the encoding and the
		// multipart framing.
		for _, tc := range []struct {
			size int
			want verdict
		}{
			{limit / 2, ok200},
			{limit + 1, tooLarge},
			{900 << 10, tooLarge},
		} {
			t.Run(fmt.Sprintf("%s of %d bytes", src.name, tc.size), func(t *testing.T) {
				t.Parallel()
				w := src.req(t, profileOfSize(t, tc.size)).serve(t, h)
				if diff := cmp.Diff(tc.want, verdictOf(t, w)); diff != "" {
					t.Errorf("answer (-want +got):\n%s\n%s", diff, w.Body)
				}
			})
		}
	}
}

// TestContentEncodingIsRefused checks contract §2's rule on encoded bodies:
// the handler decodes none, so any Content-Encoding but identity is 415,
// whether or not the body really is encoded. Before, the header was
// ignored: a plain body labelled gzip was accepted, and a real gzip body
// was "ixnProfile is missing".
func TestContentEncodingIsRefused(t *testing.T) {
	t.Parallel()
	form := "ixnProfile=" + url.QueryEscape(profileJSON)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(form))
	zw.Close()
	h := gateway.NewHandler(gateway.Discard, nil)
	for _, tc := range []struct {
		name     string
		encoding []string
		body     string
		want     verdict
	}{
		{"no encoding", nil, form, ok200},
		{"identity", []string{"identity"}, form, ok200},
		{"Identity in capitals", []string{"IDENTITY"}, form, ok200},
		{"empty header", []string{""}, form, ok200},
		{"plain body labelled gzip", []string{"gzip"}, form, unsupported},
		{"real gzip body", []string{"gzip"}, gz.String(), unsupported},
		{"brotli", []string{"br"}, form, unsupported},
		{"deflate", []string{"deflate"}, form, unsupported},
		{"gzip after identity", []string{"identity, gzip"}, form, unsupported},
		{"gzip in a second header line", []string{"identity", "gzip"}, form, unsupported},
		{"an empty body labelled gzip, parameter in the query", []string{"gzip"}, "", unsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rq := request{contentType: "application/x-www-form-urlencoded", body: tc.body, header: http.Header{}}
			if tc.body == "" {
				rq.target = "/gateway/engage?" + form
			}
			if tc.encoding != nil {
				rq.header["Content-Encoding"] = tc.encoding
			}
			w := rq.serve(t, h)
			if diff := cmp.Diff(tc.want, verdictOf(t, w)); diff != "" {
				t.Fatalf("answer (-want +got):\n%s\n%s", diff, w.Body)
			}
			if tc.want == unsupported {
				if got := w.Header().Get("Accept-Encoding"); got != "identity" {
					t.Errorf("Accept-Encoding = %q, want identity (RFC 7694)", got)
				}
			}
		})
	}
}

// TestMultipartCharsetAndTransferEncoding checks the charset and the
// Content-Transfer-Encoding of multipart requests (contract §2): UTF-8
// only, on the request and on the parameter's part, and the part's content
// as it is or quoted-printable (which Go's reader decodes); base64 and any
// other transfer encoding are 415. Before, a charset on a multipart request
// or part was ignored, and a base64 part was read as if it were the JSON.
func TestMultipartCharsetAndTransferEncoding(t *testing.T) {
	t.Parallel()
	h := gateway.NewHandler(&recorder{}, nil)
	type mh = textproto.MIMEHeader
	qp := strings.NewReplacer(`=`, `=3D`).Replace(profileJSON)
	b64 := "eyJpbnRlcmFjdGlvbklEIjoiaS0xIiwidmlzaXRJRCI6InYtMSIsImNoYW5uZWxzIjpbImNoYXQiXX0=" // {"interactionID":"i-1","visitID":"v-1","channels":["chat"]}
	for _, tc := range []struct {
		name       string
		typeSuffix string // appended to the request's Content-Type
		part       mh
		content    string
		want       verdict
	}{
		{"no charset anywhere", "", nil, profileJSON, ok200},
		{"UTF-8 on the request", "; charset=UTF-8", nil, profileJSON, ok200},
		{"utf8 on the request", `; charset="utf8"`, nil, profileJSON, ok200},
		{"ISO-8859-1 on the request", "; charset=ISO-8859-1", nil, profileJSON, badRequest},
		{"ISO-8859-1 on the request, before the boundary", "", nil, profileJSON, badRequest},
		{"a part of type text/plain", "", mh{"Content-Type": {"text/plain"}}, profileJSON, ok200},
		{"a UTF-8 part", "", mh{"Content-Type": {"application/json; charset=utf-8"}}, profileJSON, ok200},
		{"an ISO-8859-1 part", "", mh{"Content-Type": {"text/plain; charset=ISO-8859-1"}}, profileJSON, badRequest},
		{"a part with a malformed type", "", mh{"Content-Type": {"text/plain; charset"}}, profileJSON, badRequest},
		{"a 7bit part", "", mh{"Content-Transfer-Encoding": {"7bit"}}, profileJSON, ok200},
		{"an 8bit part", "", mh{"Content-Transfer-Encoding": {"8BIT"}}, profileJSON, ok200},
		{"a binary part", "", mh{"Content-Transfer-Encoding": {"binary"}}, profileJSON, ok200},
		{"a quoted-printable part", "", mh{"Content-Transfer-Encoding": {"quoted-printable"}}, qp, ok200},
		{"a base64 part", "", mh{"Content-Transfer-Encoding": {"base64"}}, b64, unsupported},
		{"an unknown transfer encoding", "", mh{"Content-Transfer-Encoding": {"x-uuencode"}}, profileJSON, unsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ct, body := multipartWith(t, tc.part, tc.content)
			ct += tc.typeSuffix
			if strings.HasSuffix(tc.name, "before the boundary") {
				ct = strings.Replace(ct, "; boundary", "; charset=ISO-8859-1; boundary", 1)
			}
			w := request{contentType: ct, body: body}.serve(t, h)
			if diff := cmp.Diff(tc.want, verdictOf(t, w)); diff != "" {
				t.Errorf("answer (-want +got):\n%s\n%s", diff, w.Body)
			}
		})
	}
}

// unsized hides a body's length, as a chunked request does, and counts
// the bytes read from it.
type unsized struct {
	r    io.Reader
	read int
}

func (u *unsized) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	u.read += n
	return n, err
}

// brokenBody yields some bytes and then fails, as a connection that drops
// mid-body does.
type brokenBody struct{ sent bool }

func (b *brokenBody) Read(p []byte) (int, error) {
	if b.sent {
		return 0, io.ErrUnexpectedEOF
	}
	b.sent = true
	return copy(p, "ixnProfile=%7B"), nil
}

// TestReadParamAnswers drives each way of reading the parameter to each of
// its answers, and checks the message too, as two answers of one code can
// differ only in it.
func TestReadParamAnswers(t *testing.T) {
	t.Parallel()
	const limit = 3000
	form := "application/x-www-form-urlencoded"
	// The padding of profileOfSize needs no escape: the escapes of the rest
	// add the same to every size.
	escapes := len(url.QueryEscape(profileOfSize(t, 200))) - 200
	exactForm := "ixnProfile=" + url.QueryEscape(profileOfSize(t, limit-len("ixnProfile=")-escapes))
	if len(exactForm) != limit {
		t.Fatalf("the exact form is %d bytes, want %d", len(exactForm), limit)
	}
	exactQuery := exactForm
	mp := func(fields ...string) (string, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.SetBoundary("b0undary")
		for i := 0; i < len(fields); i += 2 {
			mw.WriteField(fields[i], fields[i+1])
		}
		mw.Close()
		return mw.FormDataContentType(), b.String()
	}
	mpType, mpTwice := mp("ixnProfile", profileJSON, "ixnProfile", profileJSON)
	_, mpOther := mp("other", "x")
	_, mpValid := mp("ixnProfile", profileJSON)
	// A multipart body of exactly the limit: pad the profile to fit.
	_, mpEmpty := mp("ixnProfile", "")
	_, mpExact := mp("ixnProfile", profileOfSize(t, limit-len(mpEmpty)))
	if len(mpExact) != limit {
		t.Fatalf("the exact multipart body is %d bytes, want %d", len(mpExact), limit)
	}
	for _, tc := range []struct {
		name        string
		target, ct  string
		body        io.Reader
		status      int
		code, msg   string
		maxReadPast int // for an unsized body: how far past the limit it may be read
	}{
		{name: "a body of exactly the limit", ct: form, body: strings.NewReader(exactForm), status: 200},
		{name: "an unsized body of exactly the limit", ct: form, body: &unsized{r: strings.NewReader(exactForm)}, status: 200},
		{name: "a body one byte over the limit", ct: form, body: strings.NewReader(exactForm + "&"), status: 413, code: "PAYLOAD_TOO_LARGE", msg: "the request body is over the size limit"},
		{name: "an unsized body over the limit, read no further than one byte past it", ct: form, body: &unsized{r: strings.NewReader(exactForm + strings.Repeat("&", 50000))},
			status: 413, code: "PAYLOAD_TOO_LARGE", msg: "the request body is over the size limit", maxReadPast: 1},
		{name: "an unsized body over the limit in short reads, read no further than one byte past it", ct: form, body: &unsized{r: iotest.HalfReader(strings.NewReader(exactForm + strings.Repeat("&", 50000)))},
			status: 413, code: "PAYLOAD_TOO_LARGE", msg: "the request body is over the size limit", maxReadPast: 1},
		{name: "an unsized body of many reads", ct: form, body: &unsized{r: iotest.OneByteReader(strings.NewReader(exactForm))}, status: 200},
		{name: "a body broken off", ct: form, body: &brokenBody{}, status: 400, code: "BAD_REQUEST", msg: "the request body could not be read"},
		{name: "a query string of exactly the limit", target: "/gateway/engage?" + exactQuery, ct: form, status: 200},
		{name: "a query string one byte over the limit", target: "/gateway/engage?" + exactQuery + "&", ct: form, status: 413, code: "PAYLOAD_TOO_LARGE", msg: "the query string is over the size limit"},
		{name: "a form body without the parameter, the query with it", target: "/gateway/engage?ixnProfile=" + url.QueryEscape(profileJSON), ct: form, body: strings.NewReader("other=1"), status: 200},
		{name: "a form body with a broken escape in another key", target: "/gateway/engage?ixnProfile=" + url.QueryEscape(profileJSON), ct: form, body: strings.NewReader("a%zz=1"), status: 400, code: "BAD_REQUEST", msg: "the form encoding is malformed"},
		{name: "a query with a broken escape in a key", target: "/gateway/engage?a%zz=1", ct: form, status: 400, code: "BAD_REQUEST", msg: "the form encoding is malformed"},
		{name: "a parameter name escaped from its first byte", ct: form, body: strings.NewReader("%69xnProfile=" + url.QueryEscape(profileJSON)), status: 200},
		{name: "a parameter name with a plus", ct: form, body: strings.NewReader("ixn+Profile=" + url.QueryEscape(profileJSON)), status: 400, code: "BAD_REQUEST", msg: "ixnProfile is missing"},
		{name: "a JSON wrapper holding a number", ct: "application/json", body: strings.NewReader(`{"ixnProfile":5}`), status: 400, code: "BAD_REQUEST", msg: "ixnProfile must be a JSON object"},
		{name: "a JSON wrapper holding broken JSON", ct: "application/json", body: strings.NewReader(`{"ixnProfile":tru}`), status: 400, code: "BAD_REQUEST", msg: "ixnProfile is not valid JSON: invalid character at offset 14"},
		{name: "a JSON wrapper and a second object", ct: "application/json", body: strings.NewReader(`{"ixnProfile":{"a":1}}{}`), status: 400, code: "BAD_REQUEST", msg: "ixnProfile is not valid JSON: data after the JSON value at offset 22"},
		{name: "a JSON wrapper holding broken text", ct: "application/json", body: strings.NewReader(`{"ixnProfile":"{"}`), status: 400, code: "BAD_REQUEST", msg: "ixnProfile is not valid JSON: unexpected end of JSON at offset 1"},
		{name: "the type application/+json", ct: "application/+json", body: strings.NewReader(profileJSON), status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "a multipart body of exactly the limit", ct: mpType, body: strings.NewReader(mpExact), status: 200},
		{name: "a multipart body one byte over the limit", ct: mpType, body: strings.NewReader(mpExact + "x"), status: 413, code: "PAYLOAD_TOO_LARGE", msg: "the request body is over the size limit"},
		{name: "an unsized multipart body over the limit", ct: mpType, body: &unsized{r: strings.NewReader(mpExact + "x")}, status: 413, code: "PAYLOAD_TOO_LARGE", msg: "the request body is over the size limit"},
		{name: "a multipart body with an epilogue over the limit", ct: mpType, body: &unsized{r: strings.NewReader(mpValid + strings.Repeat("e", limit))}, status: 413, code: "PAYLOAD_TOO_LARGE"},
		{name: "a multipart parameter given twice", ct: mpType, body: strings.NewReader(mpTwice), status: 400, code: "BAD_REQUEST", msg: "ixnProfile is given more than once"},
		{name: "a multipart body without the parameter", ct: mpType, body: strings.NewReader(mpOther), status: 400, code: "BAD_REQUEST", msg: "ixnProfile is missing"},
		{name: "a multipart body cut short", ct: mpType, body: strings.NewReader(mpValid[:len(mpValid)-20]), status: 400, code: "BAD_REQUEST", msg: "the multipart body is malformed"},
		{name: "a multipart type without a boundary", ct: "multipart/form-data; charset=utf-8", body: strings.NewReader(mpValid), status: 400, code: "BAD_REQUEST", msg: "the multipart body is malformed"},
		{name: "a multipart body broken off", ct: mpType, body: &brokenBody{}, status: 400, code: "BAD_REQUEST", msg: "the multipart body is malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := gateway.NewHandler(gateway.Discard, &gateway.Options{MaxBodyBytes: limit})
			r := httptest.NewRequest(http.MethodPost, or(tc.target, "/gateway/engage"), tc.body)
			if _, sized := tc.body.(*strings.Reader); !sized {
				r.ContentLength = -1
			}
			r.Header.Set("Content-Type", tc.ct)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			resp := decode(t, w)
			got := fmt.Sprintf("%d %s", w.Code, resp.Code)
			if want := fmt.Sprintf("%d %s", tc.status, tc.code); got != want || tc.msg != "" && resp.Message != tc.msg {
				t.Errorf("got %s %q, want %s %q", got, resp.Message, want, tc.msg)
			}
			if u, ok := tc.body.(*unsized); ok && tc.maxReadPast > 0 && u.read > limit+tc.maxReadPast {
				t.Errorf("read %d bytes of the body, want at most %d", u.read, limit+tc.maxReadPast)
			}
		})
	}
}

// TestNilURL checks that a request without a URL, which no server makes
// but a caller of Handler.Engage might, is answered and not a panic.
func TestNilURL(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodPost, "/gateway/engage", strings.NewReader(""))
	r.URL = nil
	w := httptest.NewRecorder()
	gateway.NewHandler(gateway.Discard, nil).Engage().ServeHTTP(w, r)
	if resp := decode(t, w); w.Code != 400 || resp.Message != "ixnProfile is missing" {
		t.Errorf("got %d %q, want 400 ixnProfile is missing", w.Code, resp.Message)
	}
}

// TestLargestLimit checks that MaxBodyBytes at its largest reads a body of
// unknown length like any other (its arithmetic must not overflow).
func TestLargestLimit(t *testing.T) {
	t.Parallel()
	h := gateway.NewHandler(gateway.Discard, &gateway.Options{MaxBodyBytes: math.MaxInt64})
	body := "ixnProfile=" + url.QueryEscape(profileOfSize(t, 20000))
	r := httptest.NewRequest(http.MethodPost, "/gateway/engage", &unsized{r: strings.NewReader(body)})
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("status %d: %s", w.Code, w.Body)
	}
}

// TestLimitsAroundTheBufferSize reads bodies of unknown length around limits
// near the size of the handler's pooled buffers (4 KiB), where the read
// window and the buffer's capacity meet: each body within its limit is
// read whole, each over it is 413. Each case runs a few times, to meet
// fresh buffers and reused ones.
func TestLimitsAroundTheBufferSize(t *testing.T) {
	t.Parallel()
	for _, limit := range []int64{4095, 4096, 4097, 8192} {
		h := gateway.NewHandler(gateway.Discard, &gateway.Options{MaxBodyBytes: limit})
		for _, extra := range []int64{-1, 0, 1} {
			t.Run(fmt.Sprintf("%d bytes, limit %d", limit+extra, limit), func(t *testing.T) {
				t.Parallel()
				escapes := len(url.QueryEscape(profileOfSize(t, 200))) - 200
				body := "ixnProfile=" + url.QueryEscape(profileOfSize(t, int(limit+extra)-len("ixnProfile=")-escapes))
				want := 200
				if extra > 0 {
					want = 413
				}
				for range 5 {
					r := httptest.NewRequest(http.MethodPost, "/gateway/engage", &unsized{r: strings.NewReader(body)})
					r.ContentLength = -1
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != want {
						t.Fatalf("status %d, want %d: %s", w.Code, want, w.Body)
					}
				}
			})
		}
	}
}
