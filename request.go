package gateway

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/engagekit/gateway/internal/jsonscan"
)

// This file reads the parameter the way contract §2 says it may arrive:
// form-encoded body, query string, multipart form, or JSON (wrapped, double
// encoded or bare), with the media type sniffed when none is given.

type mediaType uint8

const (
	mediaNone mediaType = iota
	mediaForm
	mediaJSON
	mediaMultipart
	mediaOther
)

// parseContentType classifies a Content-Type header and checks its charset.
// It does by hand what mime.ParseMediaType does, without allocating.
func parseContentType(ct string) (mediaType, error) {
	typ, params, _ := strings.Cut(ct, ";")
	typ = strings.TrimSpace(typ)
	var m mediaType
	switch {
	case typ == "":
		m = mediaNone
	case strings.EqualFold(typ, "application/x-www-form-urlencoded"):
		m = mediaForm
	case strings.EqualFold(typ, "application/json"),
		len(typ) > len("application/+json") && strings.EqualFold(typ[:len("application/")], "application/") && strings.EqualFold(typ[len(typ)-len("+json"):], "+json"):
		m = mediaJSON
	case strings.EqualFold(typ, "multipart/form-data"):
		return mediaMultipart, nil // the multipart reader parses its own parameters
	default:
		return mediaOther, nil
	}
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "charset") {
			continue
		}
		if !isUTF8(strings.Trim(strings.TrimSpace(v), `"`)) {
			return m, errCharset
		}
	}
	return m, nil
}

// isUTF8 reports whether the charset name cs names UTF-8.
func isUTF8(cs string) bool {
	return strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8")
}

var errCharset = badRequest("the charset must be UTF-8")

// identityEncoding reports whether the Content-Encoding header lines ce
// leave the body as it is: each coding in them is "identity" or empty.
func identityEncoding(ce []string) bool {
	for _, line := range ce {
		for coding := range strings.SplitSeq(line, ",") {
			if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
				return false
			}
		}
	}
	return true
}

var (
	errContentEncoding = &Fault{Code: CodeUnsupportedMediaType, Message: "the request body must not be encoded (Content-Encoding)"}
	headerIdentity     = []string{"identity"}
)

// bodyPool recycles request body buffers: the parameter is copied out of
// them, so nothing keeps a reference once readParam returns.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledBody is the largest buffer put back in bodyPool, so that one
// large body does not pin memory for good.
const maxPooledBody = 256 << 10

// readBody reads at most limit bytes of body into a pooled buffer.
func readBody(r *http.Request, limit int64) (*[]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	bp := bodyPool.Get().(*[]byte)
	b := (*bp)[:0]
	if r.Body == nil {
		*bp = b
		return bp, nil
	}
	for {
		// Read no further than one byte past the limit, which tells "too
		// large", into a buffer no larger; a pooled buffer may be larger
		// than the limit. (Unsigned, as limit+1 may overflow an int64.)
		room := uint64(limit) + 1 - uint64(len(b))
		if len(b) == cap(b) {
			b = slices.Grow(b, int(min(uint64(cap(b)), room))) // double
		}
		n, err := r.Body.Read(b[len(b) : len(b)+int(min(uint64(cap(b)-len(b)), room))])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			*bp = b
			putBody(bp)
			return nil, errTooLarge
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			*bp = b
			putBody(bp)
			return nil, readError(err)
		}
	}
	*bp = b
	return bp, nil
}

// readError is the Fault of a body that could not be read: too slow for
// the read deadline, or broken off.
func readError(err error) *Fault {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errSlowBody
	}
	return errUnreadable
}

var (
	errSlowBody   = badRequest("the request body was not received in time")
	errUnreadable = badRequest("the request body could not be read")
)

// readDeadliner is a ResponseWriter that can bound the time to read the
// request, as [http.ResponseController] finds one.
type readDeadliner interface{ SetReadDeadline(time.Time) error }

// setReadDeadline sets the read deadline of w's connection as
// [http.ResponseController.SetReadDeadline] does, looking through wrappers
// that have an Unwrap method, and reports whether it could. It does not use
// ResponseController itself, whose answer for a ResponseWriter without
// deadlines is a newly allocated error.
func setReadDeadline(w http.ResponseWriter, t time.Time) bool {
	for {
		switch x := w.(type) {
		case readDeadliner:
			return x.SetReadDeadline(t) == nil
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return false
		}
	}
}

func putBody(bp *[]byte) {
	if cap(*bp) <= maxPooledBody {
		*bp = (*bp)[:0]
		bodyPool.Put(bp)
	}
}

var (
	errTooLarge      = &Fault{Code: CodePayloadTooLarge, Message: "the request body is over the size limit"}
	errQueryTooLarge = &Fault{Code: CodePayloadTooLarge, Message: "the query string is over the size limit"}
)

// readParam returns the JSON text of the parameter name, an object, or an
// array when array is set. The query string is held to the body's limit, as
// the parameter may come from it. Errors are *Fault.
func readParam(w http.ResponseWriter, r *http.Request, name string, array bool, limit int64) (string, error) {
	var query string
	if r.URL != nil { // never nil from a server, but a caller's request may be
		query = r.URL.RawQuery
	}
	if int64(len(query)) > limit {
		return "", errQueryTooLarge
	}
	if ce, ok := r.Header["Content-Encoding"]; ok && !identityEncoding(ce) {
		w.Header()["Accept-Encoding"] = headerIdentity // RFC 7694
		return "", errContentEncoding
	}
	m, err := parseContentType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", err
	}
	switch m {
	case mediaOther:
		return "", &Fault{Code: CodeUnsupportedMediaType, Message: "the media type must be application/x-www-form-urlencoded, multipart/form-data or application/json"}
	case mediaMultipart:
		text, found, err := multipartValue(w, r, name, limit)
		if found || err != nil {
			return text, err
		}
		return queryParam(query, name)
	}
	bp, err := readBody(r, limit)
	if err != nil {
		return "", err
	}
	defer putBody(bp)
	body := *bp
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return queryParam(query, name)
	}
	if m == mediaJSON || m == mediaNone && (trimmed[0] == '{' || array && trimmed[0] == '[') {
		return jsonParam(string(body), name, array)
	}
	text, found, err := formValue(body, name)
	if found || err != nil {
		return text, err
	}
	return queryParam(query, name)
}

// queryParam finds the parameter name in the query string query.
func queryParam(query, name string) (string, error) {
	if query != "" {
		text, found, err := formValue([]byte(query), name)
		if found || err != nil {
			return text, err
		}
	}
	return "", badRequest(name + " is missing")
}

// jsonParam finds the parameter in a JSON body: {"name": {…}},
// {"name": "<JSON text>"}, or the bare object itself; for an array
// parameter, {"name": […]}, {"name": "<JSON text>"} or the bare array.
func jsonParam(body string, name string, array bool) (string, error) {
	var d jsonscan.Decoder
	if err := d.Reset(body); err != nil {
		return "", syntaxError(name, err)
	}
	kind, what := jsonscan.Object, " must be a JSON object"
	if array {
		kind, what = jsonscan.Array, " must be a JSON array"
		if d.Peek() == jsonscan.Array {
			return body, nil // the decoder of the array checks the rest
		}
	}
	if d.Peek() != jsonscan.Object {
		return "", badRequest(name + what)
	}
	var text string
	found, others := false, false
	err := d.Object(func(key string) error {
		if key != name {
			others = true
			_, err := d.Skip()
			return err
		}
		found = true
		switch d.Peek() {
		case kind:
			raw, err := d.Skip()
			text = raw
			return err
		case jsonscan.String:
			s, err := d.String()
			text = s
			return err
		}
		_, err := d.Skip()
		if err == nil {
			err = badRequest(name + what)
		}
		return err
	})
	if err == nil {
		err = d.End()
	}
	switch {
	case err != nil:
		var re *Fault
		if errors.As(err, &re) {
			return "", err
		}
		return "", syntaxError(name, err)
	case !found && array:
		return "", badRequest(name + " is missing")
	case !found:
		return body, nil
	case others:
		return "", badRequest("a JSON body that holds " + name + " may hold no other key")
	}
	return text, nil
}

// formValue finds name in application/x-www-form-urlencoded text and
// returns its value, decoded. It decodes in place, so form is changed. A
// name given twice is an error, as the two values could disagree.
func formValue(form []byte, name string) (val string, found bool, err error) {
	for len(form) > 0 {
		var pair []byte
		pair, form, _ = bytes.Cut(form, []byte{'&'})
		k, v, _ := bytes.Cut(pair, []byte{'='})
		// Only an escape can make a key match: a '+' decodes to a space,
		// which no parameter name has.
		if bytes.IndexByte(k, '%') >= 0 {
			if k, err = unescapeForm(k); err != nil {
				return "", false, err
			}
		}
		if string(k) != name {
			continue
		}
		if found {
			return "", true, badRequest(name + " is given more than once")
		}
		found = true
		if v, err = unescapeForm(v); err != nil {
			return "", true, err
		}
		val = string(v)
	}
	return val, found, nil
}

// unescapeForm decodes %XX escapes and '+' in place, since the decoded
// text is never longer, and returns the decoded part of s. (A byte loop:
// copying the plain runs between escapes measured twice as slow, as in
// encoded JSON the runs are short.)
func unescapeForm(s []byte) ([]byte, error) {
	j := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			s[j] = ' '
		case '%':
			if i+2 >= len(s) {
				return nil, errFormEncoding
			}
			hi, lo := hexValue[s[i+1]], hexValue[s[i+2]]
			if hi|lo > 0xF {
				return nil, errFormEncoding
			}
			s[j] = hi<<4 | lo
			i += 2
		default:
			s[j] = c
		}
		j++
	}
	return s[:j], nil
}

var errFormEncoding = badRequest("the form encoding is malformed")

// hexValue maps a hex digit to its value and every other byte to 0xFF.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	for i, c := range "ABCDEF" {
		t[c] = byte(10 + i)
	}
	return t
}()

// multipartValue reads the form field name from a multipart body, and
// reads the body to its end, so that the whole of it arrives within the
// limit and the read deadline.
func multipartValue(w http.ResponseWriter, r *http.Request, name string, limit int64) (string, bool, error) {
	if r.ContentLength > limit {
		return "", false, errTooLarge
	}
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return "", false, errMultipart
	}
	if cs, ok := params["charset"]; ok && !isUTF8(cs) {
		return "", false, errCharset
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	r.Body = body
	mr := multipart.NewReader(body, params["boundary"])
	var val []byte
	found := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			// The epilogue, after the last boundary, is the rest.
			if _, err := io.Copy(io.Discard, body); err != nil {
				return "", found, multipartError(err)
			}
			return string(val), found, nil
		}
		if err != nil {
			return "", found, multipartError(err)
		}
		switch {
		case part.FormName() != name:
			_, err = io.Copy(io.Discard, part)
		case found:
			err = badRequest(name + " is given more than once")
		default:
			found = true
			if err = checkPart(part.Header); err == nil {
				val, err = io.ReadAll(part)
			}
		}
		part.Close()
		if err != nil {
			return "", found, multipartError(err)
		}
	}
}

// checkPart checks the headers of the parameter's part: a charset, if
// any, of UTF-8, and the content as it is. (The multipart reader has already
// decoded a quoted-printable part and removed its Content-Transfer-Encoding.)
func checkPart(h textproto.MIMEHeader) error {
	if ct := h.Get("Content-Type"); ct != "" {
		_, params, err := mime.ParseMediaType(ct)
		if err != nil {
			return errMultipart
		}
		if cs, ok := params["charset"]; ok && !isUTF8(cs) {
			return errCharset
		}
	}
	switch cte := h.Get("Content-Transfer-Encoding"); {
	case cte == "", strings.EqualFold(cte, "7bit"), strings.EqualFold(cte, "8bit"), strings.EqualFold(cte, "binary"):
		return nil
	}
	return errTransferEncoding
}

var (
	errMultipart        = badRequest("the multipart body is malformed")
	errTransferEncoding = &Fault{Code: CodeUnsupportedMediaType, Message: "a multipart part must be sent as it is or quoted-printable (Content-Transfer-Encoding)"}
)

// multipartError is the Fault of an error met while reading a multipart
// body.
func multipartError(err error) error {
	var mbe *http.MaxBytesError
	var re *Fault
	switch {
	case errors.As(err, &mbe):
		return errTooLarge
	case errors.As(err, &re):
		return re
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errSlowBody
	}
	return errMultipart
}
