package push

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/internal/jsonscan"
)

// Visitor tokens (contract §8) are compact JWS (RFC 7515) with the one
// algorithm HS256, carrying JWT claims (RFC 7519):
//
//	header   {"alg":"HS256","kid":"<key ID>","typ":"JWT"}
//	payload  {"sub":"<visitID>","page":"<pageID>","iat":…,"nbf":…,"exp":…}
//
// They are written and read here with the standard library: the format is
// three base64url segments and one HMAC, and a general JOSE library would
// bring what this verifier must refuse (other algorithms, keys named by URL,
// "crit" extensions) into the core module, whose only dependency is the
// validator.

// Bounds of visitor tokens.
const (
	// DefaultTokenTTL is the lifetime [MintToken] gives a token whose
	// claims set no Expiry: short, as a page refreshes its token (contract
	// §8.3), so that a token that leaked is soon useless.
	DefaultTokenTTL = 10 * time.Minute
	// MinTokenSecret is the shortest secret a [TokenKey] may have, in
	// bytes: the size of the hash, as RFC 7518 section 3.2 requires for
	// HS256.
	MinTokenSecret = 32
	// MaxTokenBytes is the longest token [VerifyToken] reads; a longer one
	// is refused before it is decoded. A token [MintToken] makes is under
	// 600 bytes.
	MaxTokenBytes = 4096
	// TokenLeeway is how far in the verifier's future a token's iat and
	// nbf may be, for clocks a little apart. Expiry has no leeway.
	TokenLeeway = time.Minute
)

// TokenKey is a key that signs or verifies visitor tokens. The host's
// server signs with one key; a [Broker] verifies with every key of
// [Options.TokenKeys], found by ID, so that keys rotate without downtime
// (contract §8.4).
//
// Formatting a TokenKey with fmt, log/slog or encoding/json shows its ID,
// never its Secret; [FormatTokenKey] writes both.
type TokenKey struct {
	// ID names the key in each token's header (kid): 1 to 64 characters
	// of letters, digits, '.', '_' and '-'.
	ID string
	// Secret is the HMAC-SHA256 key: at least [MinTokenSecret] bytes,
	// random. It must not change while the key is in use.
	Secret []byte
}

// NewTokenKey returns a key named id with a random secret of
// [MinTokenSecret] bytes. It fails only for an invalid id.
func NewTokenKey(id string) (TokenKey, error) {
	if !validKeyID(id) {
		return TokenKey{}, errKeyID
	}
	secret := make([]byte, MinTokenSecret)
	rand.Read(secret) // never fails: see crypto/rand.Read
	return TokenKey{ID: id, Secret: secret}, nil
}

// ParseTokenKey reads a key written "ID:SECRET", SECRET in base64 (the URL
// or the standard alphabet, with or without padding), as [FormatTokenKey]
// writes it and as flags and environment variables carry it. Its errors
// never quote s.
func ParseTokenKey(s string) (TokenKey, error) {
	id, enc, ok := strings.Cut(s, ":")
	if !ok {
		return TokenKey{}, errors.New("push: a token key is written ID:SECRET, SECRET in base64")
	}
	if !validKeyID(id) {
		return TokenKey{}, errKeyID
	}
	enc = strings.TrimRight(enc, "=")
	enc = strings.NewReplacer("+", "-", "/", "_").Replace(enc)
	secret, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return TokenKey{}, errors.New("push: a token key's SECRET is not base64")
	}
	k := TokenKey{ID: id, Secret: secret}
	if err := k.check(); err != nil {
		return TokenKey{}, err
	}
	return k, nil
}

// FormatTokenKey writes k as [ParseTokenKey] reads it, "ID:SECRET" with
// SECRET in unpadded base64url. The result holds the secret: treat it as
// one.
func FormatTokenKey(k TokenKey) string {
	return k.ID + ":" + base64.RawURLEncoding.EncodeToString(k.Secret)
}

// String returns the key's ID, and never its secret.
func (k TokenKey) String() string { return "TokenKey(" + k.ID + ")" }

// Format writes [TokenKey.String] for every verb, %#v and %d included, so
// that printing a key never prints its secret.
func (k TokenKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue logs the key's ID, and never its secret.
func (k TokenKey) LogValue() slog.Value { return slog.GroupValue(slog.String("id", k.ID)) }

// MarshalJSON writes {"id":…}, and never the secret, so that a key inside
// a value that is logged as JSON stays secret. Store a key as
// [FormatTokenKey] writes it.
func (k TokenKey) MarshalJSON() ([]byte, error) {
	return append(jsonscan.AppendString([]byte(`{"id":`), k.ID), '}'), nil
}

var errKeyID = errors.New("push: a token key's ID is 1-64 characters of letters, digits, '.', '_' and '-'")

func (k TokenKey) check() error {
	if !validKeyID(k.ID) {
		return errKeyID
	}
	if len(k.Secret) < MinTokenSecret {
		return fmt.Errorf("push: token key %s: the secret has %d bytes, fewer than %d", k.ID, len(k.Secret), MinTokenSecret)
	}
	return nil
}

func validKeyID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// TokenClaims is what a visitor token says: whose visit it opens, for which
// page, and when.
type TokenClaims struct {
	// VisitID is the visit the token opens (sub): required, with the rule
	// of a visitID.
	VisitID string
	// PageID, when set, limits the token to the streams of that page
	// (page). Empty means every page of the visit.
	PageID string
	// IssuedAt is when the token was made (iat). [MintToken] takes the
	// zero value for now.
	IssuedAt time.Time
	// NotBefore, when set, is when the token starts to be valid (nbf).
	NotBefore time.Time
	// Expiry is when the token stops being valid (exp); a stream open with
	// it is then closed (contract §8.3). [MintToken] takes the zero value
	// for IssuedAt + [DefaultTokenTTL].
	Expiry time.Time
}

// MintToken signs c with key and returns the token, in whole seconds (the
// times are truncated). It fails, without a token, when key or c break a
// rule: an invalid key ID, a secret shorter than [MinTokenSecret], an
// invalid VisitID or PageID, or an Expiry that is not after IssuedAt.
// It is safe for concurrent use.
func MintToken(key TokenKey, c TokenClaims) (string, error) {
	if err := key.check(); err != nil {
		return "", err
	}
	if !validID(c.VisitID) {
		return "", errors.New("push: a token's VisitID must be a valid visitID")
	}
	if c.PageID != "" && !validID(c.PageID) {
		return "", errors.New("push: a token's PageID must be empty or a valid pageID")
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now()
	}
	if c.Expiry.IsZero() {
		c.Expiry = c.IssuedAt.Add(DefaultTokenTTL)
	}
	if c.Expiry.Unix() <= c.IssuedAt.Unix() {
		return "", errors.New("push: a token's Expiry must be at least a second after its IssuedAt")
	}

	b := make([]byte, 0, 512)
	b = appendSegment(b, fmt.Appendf(nil, `{"alg":"HS256","kid":%q,"typ":"JWT"}`, key.ID)) // the ID needs no escape
	b = append(b, '.')
	p := make([]byte, 0, 256)
	p = append(p, `{"sub":`...)
	p = jsonscan.AppendString(p, c.VisitID)
	if c.PageID != "" {
		p = append(p, `,"page":`...)
		p = jsonscan.AppendString(p, c.PageID)
	}
	p = append(p, `,"iat":`...)
	p = strconv.AppendInt(p, c.IssuedAt.Unix(), 10)
	if !c.NotBefore.IsZero() {
		p = append(p, `,"nbf":`...)
		p = strconv.AppendInt(p, c.NotBefore.Unix(), 10)
	}
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, c.Expiry.Unix(), 10)
	p = append(p, '}')
	b = appendSegment(b, p)
	mac := sign(key.Secret, b)
	b = append(b, '.')
	b = appendSegment(b, mac)
	return string(b), nil
}

func appendSegment(dst, src []byte) []byte {
	return base64.RawURLEncoding.AppendEncode(dst, src)
}

func sign(secret, signingInput []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(signingInput)
	return h.Sum(nil)
}

// Errors of [VerifyToken], for [errors.Is]. Each comes wrapped in a
// [*gateway.Fault] of code UNAUTHORIZED (so it matches
// [gateway.ErrUnauthorized] too) whose Message says which, and whose Err
// holds the detail, for logs; neither ever quotes the token.
var (
	// ErrTokenMissing: the request carries no token.
	ErrTokenMissing = errors.New("push: no token")
	// ErrTokenExpired: the token was valid and has expired; the page gets
	// a new one from its host (contract §8.3).
	ErrTokenExpired = errors.New("push: the token has expired")
	// ErrTokenInvalid: anything else. The token is malformed, is not
	// HS256 with a known key, was altered, is not yet valid, or opens
	// another visit or page.
	ErrTokenInvalid = errors.New("push: the token is invalid")
)

// tokenFault is the 401 that refuses a request for a token, as
// WriteError writes it: a Bearer challenge (RFC 6750), a public message,
// and the cause for logs.
func tokenFault(kind error, detail string) *gateway.Fault {
	f := &gateway.Fault{Code: gateway.CodeUnauthorized, Challenge: `Bearer realm="visitor", error="invalid_token"`}
	switch kind {
	case ErrTokenMissing:
		f.Message = "a visitor token is required"
		f.Challenge = `Bearer realm="visitor"`
		f.Err = kind
		return f
	case ErrTokenExpired:
		f.Message = "the visitor token has expired"
	default:
		f.Message = "the visitor token is invalid"
	}
	f.Err = fmt.Errorf("%w: %s", kind, detail)
	return f
}

// VerifyToken checks token at now against keys (the key its header names)
// and returns its claims. A token is valid when it is a compact JWS whose
// header is exactly alg HS256, a kid, and optionally typ JWT; whose kid
// names one of keys; whose HMAC-SHA256 matches (compared in constant time,
// before the claims are read); whose claims hold sub (a valid visitID) and
// exp, and optionally page (a valid pageID), iat and nbf as integer
// seconds; and when now is before exp and, within [TokenLeeway], not
// before iat and nbf. Other claims are ignored.
//
// The error is a [*gateway.Fault] of code UNAUTHORIZED wrapping
// [ErrTokenExpired] or [ErrTokenInvalid]. Whether the claims fit a request
// (the visit, the page) is the caller's to check. VerifyToken is safe for
// concurrent use; it does not change keys.
func VerifyToken(token string, keys []TokenKey, now time.Time) (TokenClaims, error) {
	var c TokenClaims
	if len(token) > MaxTokenBytes {
		return c, tokenFault(ErrTokenInvalid, "longer than MaxTokenBytes")
	}
	// Go's base64 decoders skip CR and LF, even strict ones: without this
	// a signature with one inserted would still verify, and a token would
	// have many texts.
	if !tokenText(token) {
		return c, tokenFault(ErrTokenInvalid, "a character outside base64url and '.'")
	}
	head, rest, ok1 := strings.Cut(token, ".")
	body, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sig, ".") {
		return c, tokenFault(ErrTokenInvalid, "not three segments")
	}
	kid, err := readHeader(head)
	if err != nil {
		return c, tokenFault(ErrTokenInvalid, err.Error())
	}
	var secret []byte
	for _, k := range keys {
		if k.ID == kid && len(k.Secret) >= MinTokenSecret {
			secret = k.Secret
			break
		}
	}
	if secret == nil {
		return c, tokenFault(ErrTokenInvalid, "no key with its kid")
	}
	mac, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil {
		return c, tokenFault(ErrTokenInvalid, "the signature is not base64url")
	}
	// The signing input is the token's own text up to the second dot.
	if !hmac.Equal(mac, sign(secret, []byte(token[:len(head)+1+len(body)]))) {
		return c, tokenFault(ErrTokenInvalid, "the signature does not match")
	}
	if err := readClaims(body, &c); err != nil {
		return TokenClaims{}, tokenFault(ErrTokenInvalid, err.Error())
	}
	switch {
	case !now.Before(c.Expiry):
		return TokenClaims{}, tokenFault(ErrTokenExpired, "exp is past")
	case !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(TokenLeeway)):
		return TokenClaims{}, tokenFault(ErrTokenInvalid, "nbf is in the future")
	case c.IssuedAt.After(now.Add(TokenLeeway)):
		return TokenClaims{}, tokenFault(ErrTokenInvalid, "iat is in the future")
	}
	return c, nil
}

// tokenText reports whether s holds only the characters of a compact
// JWS: base64url's alphabet and dots.
func tokenText(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// decodeSegment decodes one base64url segment (no padding, canonical)
// into JSON text.
func decodeSegment(seg string) (string, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return "", errors.New("a segment is not base64url")
	}
	return string(b), nil
}

// readHeader reads a token's header and returns its kid. The header must
// be an object with exactly the members alg ("HS256"), kid, and optionally
// typ ("JWT"), each once: any other member (crit, jku, jwk, x5u, b64, …) is
// refused rather than ignored, so no header can ask for another algorithm
// or another key.
func readHeader(seg string) (kid string, err error) {
	text, err := decodeSegment(seg)
	if err != nil {
		return "", err
	}
	d, err := jsonscan.New(text)
	if err != nil {
		return "", errors.New("the header is not UTF-8")
	}
	if d.Peek() != jsonscan.Object {
		return "", errors.New("the header is not a JSON object")
	}
	var alg string
	err = d.Object(func(key string) error {
		var v string
		var err error
		if d.Peek() == jsonscan.String {
			v, err = d.String()
		} else {
			err = errors.New("a header member is not a string")
		}
		if err != nil {
			return err
		}
		switch key {
		case "alg":
			alg = v
		case "kid":
			kid = v
		case "typ":
			if v != "JWT" {
				return errors.New("typ is not JWT")
			}
		default:
			return errors.New("the header has a member other than alg, kid and typ")
		}
		return nil
	})
	if err == nil {
		err = d.End()
	}
	switch {
	case err != nil:
		return "", fmt.Errorf("header: %w", err)
	case alg != "HS256":
		return "", errors.New("alg is not HS256")
	case kid == "":
		return "", errors.New("the header has no kid")
	}
	return kid, nil
}

// readClaims reads a token's payload into c.
func readClaims(seg string, c *TokenClaims) error {
	text, err := decodeSegment(seg)
	if err != nil {
		return err
	}
	d, err := jsonscan.New(text)
	if err != nil {
		return errors.New("the claims are not UTF-8")
	}
	if d.Peek() != jsonscan.Object {
		return errors.New("the claims are not a JSON object")
	}
	err = d.Object(func(key string) error {
		switch key {
		case "sub", "page":
			if d.Peek() != jsonscan.String {
				return errors.New(key + " is not a string")
			}
			s, err := d.String()
			if err != nil {
				return err
			}
			if !validID(s) {
				return errors.New(key + " is not a valid ID")
			}
			if key == "sub" {
				c.VisitID = s
			} else {
				c.PageID = s
			}
		case "iat", "nbf", "exp":
			t, err := readTime(d)
			if err != nil {
				return errors.New(key + " is not a time in whole seconds")
			}
			switch key {
			case "iat":
				c.IssuedAt = t
			case "nbf":
				c.NotBefore = t
			default:
				c.Expiry = t
			}
		default:
			_, err := d.Skip()
			return err
		}
		return nil
	})
	if err == nil {
		err = d.End()
	}
	switch {
	case err != nil:
		return fmt.Errorf("claims: %w", err)
	case c.VisitID == "":
		return errors.New("the claims have no sub")
	case c.Expiry.IsZero():
		return errors.New("the claims have no exp")
	}
	return nil
}

// readTime reads a NumericDate written as whole seconds, 0 to year 9999.
func readTime(d *jsonscan.Decoder) (time.Time, error) {
	if d.Peek() != jsonscan.Number {
		return time.Time{}, errors.New("not a number")
	}
	n, err := d.Number()
	if err != nil {
		return time.Time{}, err
	}
	sec, err := strconv.ParseInt(n, 10, 64)
	if err != nil || sec < 0 || sec > 253402300799 {
		return time.Time{}, errors.New("not whole seconds")
	}
	return time.Unix(sec, 0), nil
}

// validID is the rule of a visitID and of a pageID.
func validID(s string) bool { return visitIDRule.Check(s) == nil }
