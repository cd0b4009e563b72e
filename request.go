package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

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
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if !strings.EqualFold(v, "utf-8") && !strings.EqualFold(v, "utf8") {
			return m, badRequest("the charset must be UTF-8")
		}
	}
	return m, nil
}

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
		if len(b) == cap(b) {
			// Double, but never past limit+1: one byte over tells "too large".
			grow := int64(cap(b))
			if rest := limit + 1 - int64(len(b)); grow > rest {
				grow = rest
			}
			b = slices.Grow(b, int(grow))
		}
		n, err := r.Body.Read(b[len(b):cap(b)])
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
			return nil, badRequest("the request body could not be read")
		}
	}
	*bp = b
	return bp, nil
}

func putBody(bp *[]byte) {
	if cap(*bp) <= maxPooledBody {
		*bp = (*bp)[:0]
		bodyPool.Put(bp)
	}
}

var errTooLarge = &Fault{Code: CodePayloadTooLarge, Message: "the request body is over the size limit"}

// readParam returns the JSON text of the parameter name. Errors are
// *Fault.
func readParam(w http.ResponseWriter, r *http.Request, name string, limit int64) (string, error) {
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
		return queryParam(r, name)
	}
	bp, err := readBody(r, limit)
	if err != nil {
		return "", err
	}
	defer putBody(bp)
	body := *bp
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return queryParam(r, name)
	}
	if m == mediaJSON || m == mediaNone && trimmed[0] == '{' {
		return jsonParam(string(body), name)
	}
	text, found, err := formValue(body, name)
	if found || err != nil {
		return text, err
	}
	return queryParam(r, name)
}

func queryParam(r *http.Request, name string) (string, error) {
	if r.URL != nil && r.URL.RawQuery != "" {
		text, found, err := formValue([]byte(r.URL.RawQuery), name)
		if found || err != nil {
			return text, err
		}
	}
	return "", badRequest(name + " is missing")
}

// jsonParam finds the parameter in a JSON body: {"name": {…}},
// {"name": "<JSON text>"}, or the bare object itself.
func jsonParam(body string, name string) (string, error) {
	var d jsonscan.Decoder
	if err := d.Reset(body); err != nil {
		return "", syntaxError(name, err)
	}
	if d.Peek() != jsonscan.Object {
		return "", badRequest(name + " must be a JSON object")
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
		case jsonscan.Object:
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
			err = badRequest(name + " must be a JSON object")
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
		if bytes.IndexByte(k, '%') >= 0 || bytes.IndexByte(k, '+') >= 0 {
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

// multipartValue reads the form field name from a multipart body.
func multipartValue(w http.ResponseWriter, r *http.Request, name string, limit int64) (string, bool, error) {
	if r.ContentLength > limit {
		return "", false, errTooLarge
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	mr, err := r.MultipartReader()
	if err != nil {
		return "", false, badRequest("the multipart body is malformed")
	}
	var val []byte
	found := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return string(val), found, nil
		}
		if err != nil {
			return "", found, multipartError(err)
		}
		if part.FormName() != name {
			_, err = io.Copy(io.Discard, part)
		} else if found {
			err = badRequest(name + " is given more than once")
		} else {
			found = true
			val, err = io.ReadAll(part)
		}
		part.Close()
		if err != nil {
			return "", found, multipartError(err)
		}
	}
}

func multipartError(err error) error {
	var mbe *http.MaxBytesError
	var re *Fault
	switch {
	case errors.As(err, &mbe):
		return errTooLarge
	case errors.As(err, &re):
		return re
	}
	return badRequest("the multipart body is malformed")
}
