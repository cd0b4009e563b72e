package gateway_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

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
