package push_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
)

// The tests' keys: k1 signs and verifies, k0 is the key it replaced.
var (
	key1 = push.TokenKey{ID: "k1", Secret: bytes.Repeat([]byte{0x11}, 32)}
	key0 = push.TokenKey{ID: "k0", Secret: bytes.Repeat([]byte{0x22}, 32)}
)

// tokenNow is the tests' verifying time.
var tokenNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func mint(t testing.TB, key push.TokenKey, c push.TokenClaims) string {
	t.Helper()
	tok, err := push.MintToken(key, c)
	if err != nil {
		t.Fatalf("MintToken: %v", err)
	}
	return tok
}

// craft builds a token from its header and claims as written, signed with
// HMAC-SHA256 and secret: what an attacker who had the secret, or a
// confused verifier, would make.
func craft(header, claims string, secret []byte) string {
	in := b64(header) + "." + b64(claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// segments splits a token into its three segments, decoded.
func segments(t *testing.T, tok string) (header, claims string, sig []byte) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d segments", tok, len(parts))
	}
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	c, _ := base64.RawURLEncoding.DecodeString(parts[1])
	s, _ := base64.RawURLEncoding.DecodeString(parts[2])
	return string(h), string(c), s
}

func TestMintTokenWritesTheDocumentedFormat(t *testing.T) {
	t.Parallel()
	tok := mint(t, key1, push.TokenClaims{VisitID: "v-1", PageID: "p-1", IssuedAt: tokenNow, NotBefore: tokenNow, Expiry: tokenNow.Add(5 * time.Minute)})
	header, claims, sig := segments(t, tok)
	want := []string{
		`{"alg":"HS256","kid":"k1","typ":"JWT"}`,
		fmt.Sprintf(`{"sub":"v-1","page":"p-1","iat":%d,"nbf":%d,"exp":%d}`, tokenNow.Unix(), tokenNow.Unix(), tokenNow.Unix()+300),
	}
	if diff := cmp.Diff(want, []string{header, claims}); diff != "" {
		t.Errorf("header and claims (-want +got):\n%s", diff)
	}
	if want := craft(header, claims, key1.Secret); tok != want {
		t.Errorf("token %s, want %s (HMAC-SHA256 of the first two segments)", tok, want)
	}
	if len(sig) != sha256.Size {
		t.Errorf("signature of %d bytes", len(sig))
	}
}

func TestMintTokenDefaults(t *testing.T) {
	t.Parallel()
	before := time.Now().Truncate(time.Second)
	tok := mint(t, key1, push.TokenClaims{VisitID: "v-1"})
	after := time.Now()
	c, err := push.VerifyToken(tok, []push.TokenKey{key1}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c.IssuedAt.Before(before) || c.IssuedAt.After(after) {
		t.Errorf("IssuedAt %v, want now", c.IssuedAt)
	}
	if got := c.Expiry.Sub(c.IssuedAt); got != push.DefaultTokenTTL {
		t.Errorf("lifetime %v, want DefaultTokenTTL (%v)", got, push.DefaultTokenTTL)
	}
}

func TestMintTokenRefusesWhatBreaksARule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		key  push.TokenKey
		c    push.TokenClaims
	}{
		{"a key without an ID", push.TokenKey{Secret: key1.Secret}, push.TokenClaims{VisitID: "v-1"}},
		{"a key ID with a colon", push.TokenKey{ID: "k:1", Secret: key1.Secret}, push.TokenClaims{VisitID: "v-1"}},
		{"a secret of 31 bytes", push.TokenKey{ID: "k1", Secret: key1.Secret[:31]}, push.TokenClaims{VisitID: "v-1"}},
		{"no visitID", key1, push.TokenClaims{}},
		{"a visitID with a space", key1, push.TokenClaims{VisitID: "v 1"}},
		{"a pageID with a quote", key1, push.TokenClaims{VisitID: "v-1", PageID: `p"1`}},
		{"an expiry before the issue", key1, push.TokenClaims{VisitID: "v-1", IssuedAt: tokenNow, Expiry: tokenNow.Add(-time.Second)}},
		{"an expiry within the second of the issue", key1, push.TokenClaims{VisitID: "v-1", IssuedAt: tokenNow, Expiry: tokenNow.Add(500 * time.Millisecond)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tok, err := push.MintToken(tc.key, tc.c); err == nil {
				t.Errorf("MintToken = %q, want an error", tok)
			}
		})
	}
}

// TestVerifyToken: only an HS256 token signed by a known key, unaltered,
// within its times, is valid; every other is refused, and says whether
// it expired.
func TestVerifyToken(t *testing.T) {
	t.Parallel()
	keys := []push.TokenKey{key1}
	iat, exp := tokenNow.Unix()-60, tokenNow.Unix()+540
	claims := fmt.Sprintf(`{"sub":"v-1","iat":%d,"exp":%d}`, iat, exp)
	const header = `{"alg":"HS256","kid":"k1","typ":"JWT"}`
	good := craft(header, claims, key1.Secret)
	goodHead, goodBody, goodSig := func() (string, string, string) {
		p := strings.Split(good, ".")
		return p[0], p[1], p[2]
	}()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	es256 := func() string {
		in := b64(`{"alg":"ES256","kid":"k1","typ":"JWT"}`) + "." + b64(claims)
		sum := sha256.Sum256([]byte(in))
		r, s, _ := ecdsa.Sign(rand.Reader, ecKey, sum[:])
		sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		return in + "." + base64.RawURLEncoding.EncodeToString(sig)
	}()
	pub, _ := ecKey.PublicKey.ECDH()
	wantClaims := push.TokenClaims{VisitID: "v-1", IssuedAt: time.Unix(iat, 0), Expiry: time.Unix(exp, 0)}

	for _, tc := range []struct {
		name  string
		token string
		keys  []push.TokenKey
		now   time.Time
		want  error // nil: valid
	}{
		{name: "a token MintToken made is valid", token: good},
		{name: "a token with a page claim and nbf is valid", token: craft(header, fmt.Sprintf(`{"sub":"v-1","page":"p-1","nbf":%d,"exp":%d}`, iat, exp), key1.Secret)},
		{name: "claims it does not know are ignored", token: craft(header, fmt.Sprintf(`{"iss":"shop","aud":["x"],"jti":{"n":1},"sub":"v-1","exp":%d}`, exp), key1.Secret)},
		{name: "a header without typ is valid", token: craft(`{"kid":"k1","alg":"HS256"}`, claims, key1.Secret)},
		{name: "nbf within the leeway is valid", token: craft(header, fmt.Sprintf(`{"sub":"v-1","nbf":%d,"exp":%d}`, tokenNow.Unix()+59, exp), key1.Secret)},
		{name: "a token signed by an old key still listed is valid", token: craft(`{"alg":"HS256","kid":"k0"}`, claims, key0.Secret), keys: []push.TokenKey{key1, key0}},

		{name: "forged: signed with another secret under the same kid", token: craft(header, claims, key0.Secret), want: push.ErrTokenInvalid},
		{name: "expired", token: good, now: time.Unix(exp, 0), want: push.ErrTokenExpired},
		{name: "expired long ago", token: craft(header, `{"sub":"v-1","exp":0}`, key1.Secret), want: push.ErrTokenExpired},
		{name: "not yet valid: nbf past the leeway", token: craft(header, fmt.Sprintf(`{"sub":"v-1","nbf":%d,"exp":%d}`, tokenNow.Unix()+61, exp), key1.Secret), want: push.ErrTokenInvalid},
		{name: "not yet valid: issued past the leeway", token: craft(header, fmt.Sprintf(`{"sub":"v-1","iat":%d,"exp":%d}`, tokenNow.Unix()+61, exp), key1.Secret), want: push.ErrTokenInvalid},
		{name: "a rotated-out key", token: craft(`{"alg":"HS256","kid":"k0"}`, claims, key0.Secret), want: push.ErrTokenInvalid},
		{name: "a kid no key has", token: craft(`{"alg":"HS256","kid":"k9"}`, claims, key1.Secret), want: push.ErrTokenInvalid},
		{name: "no kid", token: craft(`{"alg":"HS256"}`, claims, key1.Secret), want: push.ErrTokenInvalid},
		{name: "no keys at all", token: good, keys: []push.TokenKey{}, want: push.ErrTokenInvalid},

		{name: "tampered claims: another visit, the signature kept", token: goodHead + "." + b64(strings.Replace(claims, "v-1", "v-2", 1)) + "." + goodSig, want: push.ErrTokenInvalid},
		{name: "tampered claims: a later exp, the signature kept", token: goodHead + "." + b64(strings.Replace(claims, fmt.Sprint(exp), fmt.Sprint(exp+3600), 1)) + "." + goodSig, want: push.ErrTokenInvalid},
		{name: "tampered header: kid of an old key listed too", token: b64(`{"alg":"HS256","kid":"k0","typ":"JWT"}`) + "." + goodBody + "." + goodSig, keys: []push.TokenKey{key1, key0}, want: push.ErrTokenInvalid},
		{name: "tampered header: typ dropped, the signature kept", token: b64(`{"alg":"HS256","kid":"k1"}`) + "." + goodBody + "." + goodSig, want: push.ErrTokenInvalid},
		{name: "tampered signature: one bit", token: goodHead + "." + goodBody + "." + flipLast(goodSig), want: push.ErrTokenInvalid},
		{name: "a signature cut short", token: goodHead + "." + goodBody + "." + goodSig[:20], want: push.ErrTokenInvalid},
		// Go's base64 decoders skip CR and LF, even in strict mode: a
		// signature with one inserted decoded to the same MAC, and the
		// token, another text than the one signed, was valid.
		{name: "a newline in the signature", token: goodHead + "." + goodBody + "." + goodSig[:3] + "\n" + goodSig[3:], want: push.ErrTokenInvalid},
		{name: "a carriage return at the signature's end", token: good + "\r", want: push.ErrTokenInvalid},
		{name: "a space in the signature", token: goodHead + "." + goodBody + "." + goodSig[:3] + " " + goodSig[3:], want: push.ErrTokenInvalid},

		{name: "alg none without a signature", token: b64(`{"alg":"none","kid":"k1"}`) + "." + b64(claims) + ".", want: push.ErrTokenInvalid},
		{name: "alg none with the right HMAC", token: craft(`{"alg":"none","kid":"k1"}`, claims, key1.Secret), want: push.ErrTokenInvalid},
		{name: "alg RS256 with the HMAC key as its public key", token: craft(`{"alg":"RS256","kid":"k1","typ":"JWT"}`, claims, key1.Secret), want: push.ErrTokenInvalid},
		{name: "alg ES256 with the HMAC key as its public key", token: craft(`{"alg":"ES256","kid":"k1","typ":"JWT"}`, claims, key1.Secret), want: push.ErrTokenInvalid},
		{name: "alg ES256 truly signed, its public key taken for the HMAC key", token: es256, keys: []push.TokenKey{{ID: "k1", Secret: pub.Bytes()}}, want: push.ErrTokenInvalid},
		{name: "alg HS512", token: craft(`{"alg":"HS512","kid":"k1"}`, claims, key1.Secret), want: push.ErrTokenInvalid},
		{name: "alg in lower case", token: craft(`{"alg":"hs256","kid":"k1"}`, claims, key1.Secret), want: push.ErrTokenInvalid},
		{name: "alg missing", token: craft(`{"kid":"k1","typ":"JWT"}`, claims, key1.Secret), want: push.ErrTokenInvalid},
		{name: "alg twice, none first", token: craft(`{"alg":"none","alg":"HS256","kid":"k1"}`, claims, key1.Secret), want: push.ErrTokenInvalid},
		{name: "alg not a string", token: craft(`{"alg":["HS256"],"kid":"k1"}`, claims, key1.Secret), want: push.ErrTokenInvalid},
		{name: "a crit header", token: craft(`{"alg":"HS256","kid":"k1","crit":["exp"]}`, claims, key1.Secret), want: push.ErrTokenInvalid},
		{name: "a jku header", token: craft(`{"alg":"HS256","kid":"k1","jku":"https://evil.example/keys"}`, claims, key1.Secret), want: push.ErrTokenInvalid},
		{name: "typ other than JWT", token: craft(`{"alg":"HS256","kid":"k1","typ":"JOSE+JSON"}`, claims, key1.Secret), want: push.ErrTokenInvalid},
		{name: "a header that is not an object", token: craft(`"HS256"`, claims, key1.Secret), want: push.ErrTokenInvalid},
		{name: "a header with data after it", token: craft(`{"alg":"HS256","kid":"k1"}{}`, claims, key1.Secret), want: push.ErrTokenInvalid},

		{name: "no sub", token: craft(header, fmt.Sprintf(`{"exp":%d}`, exp), key1.Secret), want: push.ErrTokenInvalid},
		{name: "no exp", token: craft(header, `{"sub":"v-1"}`, key1.Secret), want: push.ErrTokenInvalid},
		{name: "exp as a string", token: craft(header, fmt.Sprintf(`{"sub":"v-1","exp":"%d"}`, exp), key1.Secret), want: push.ErrTokenInvalid},
		{name: "exp with a fraction", token: craft(header, fmt.Sprintf(`{"sub":"v-1","exp":%d.5}`, exp), key1.Secret), want: push.ErrTokenInvalid},
		{name: "exp with an exponent", token: craft(header, `{"sub":"v-1","exp":1e12}`, key1.Secret), want: push.ErrTokenInvalid},
		{name: "exp negative", token: craft(header, `{"sub":"v-1","exp":-1}`, key1.Secret), want: push.ErrTokenInvalid},
		{name: "sub twice", token: craft(header, fmt.Sprintf(`{"sub":"v-2","sub":"v-1","exp":%d}`, exp), key1.Secret), want: push.ErrTokenInvalid},
		{name: "sub that is no visitID", token: craft(header, fmt.Sprintf(`{"sub":"v 1","exp":%d}`, exp), key1.Secret), want: push.ErrTokenInvalid},
		{name: "page that is no pageID", token: craft(header, fmt.Sprintf(`{"sub":"v-1","page":"","exp":%d}`, exp), key1.Secret), want: push.ErrTokenInvalid},
		{name: "claims that are an array", token: craft(header, `["v-1"]`, key1.Secret), want: push.ErrTokenInvalid},

		{name: "empty", token: "", want: push.ErrTokenInvalid},
		{name: "two segments", token: goodHead + "." + goodBody, want: push.ErrTokenInvalid},
		{name: "four segments", token: good + ".x", want: push.ErrTokenInvalid},
		{name: "padded base64", token: goodHead + "=." + goodBody + "." + goodSig, want: push.ErrTokenInvalid},
		{name: "standard base64 alphabet", token: strings.NewReplacer("-", "+", "_", "/").Replace(good), want: push.ErrTokenInvalid},
		{name: "longer than MaxTokenBytes", token: craft(header, fmt.Sprintf(`{"sub":"v-1","x":"%s","exp":%d}`, strings.Repeat("a", push.MaxTokenBytes), exp), key1.Secret), want: push.ErrTokenInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keys := keys
			if tc.keys != nil {
				keys = tc.keys
			}
			now := tokenNow
			if !tc.now.IsZero() {
				now = tc.now
			}
			c, err := push.VerifyToken(tc.token, keys, now)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("VerifyToken: %v, want valid", err)
				}
				if tc.token == good {
					if diff := cmp.Diff(wantClaims, c); diff != "" {
						t.Errorf("claims (-want +got):\n%s", diff)
					}
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, gateway.ErrUnauthorized) {
				t.Fatalf("VerifyToken: %v, want %v and UNAUTHORIZED", err, tc.want)
			}
			if c != (push.TokenClaims{}) {
				t.Errorf("claims %+v of a refused token, want none", c)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Errorf("the error quotes the token: %v", err)
			}
		})
	}
}

func flipLast(seg string) string {
	b, _ := base64.RawURLEncoding.DecodeString(seg)
	b[len(b)-1] ^= 1
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestTokenKeyText(t *testing.T) {
	t.Parallel()
	k, err := push.NewTokenKey("2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Secret) != push.MinTokenSecret {
		t.Errorf("secret of %d bytes", len(k.Secret))
	}
	text := push.FormatTokenKey(k)
	back, err := push.ParseTokenKey(text)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != k.ID || !bytes.Equal(back.Secret, k.Secret) {
		t.Errorf("ParseTokenKey(FormatTokenKey(k)) = %s, %x; want %s, %x", back.ID, back.Secret, k.ID, k.Secret)
	}
	std := "k1:" + base64.StdEncoding.EncodeToString(key1.Secret)
	if got, err := push.ParseTokenKey(std); err != nil || !bytes.Equal(got.Secret, key1.Secret) {
		t.Errorf("ParseTokenKey of standard base64 with padding: %v", err)
	}

	for _, tc := range []struct{ name, text string }{
		{"no colon", base64.RawURLEncoding.EncodeToString(key1.Secret)},
		{"no ID", ":" + base64.RawURLEncoding.EncodeToString(key1.Secret)},
		{"a secret that is not base64", "k1:" + strings.Repeat("!", 44)},
		{"a secret of 16 bytes", "k1:" + base64.RawURLEncoding.EncodeToString(key1.Secret[:16])},
	} {
		t.Run("ParseTokenKey refuses "+tc.name, func(t *testing.T) {
			_, err := push.ParseTokenKey(tc.text)
			if err == nil {
				t.Fatal("no error")
			}
			if _, secret, _ := strings.Cut(tc.text, ":"); secret != "" && strings.Contains(err.Error(), secret) {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
	if _, err := push.NewTokenKey("k 1"); err == nil {
		t.Error("NewTokenKey accepts an ID with a space")
	}
}

// TestTokenKeyNeverPrintsItsSecret: fmt with any verb and log/slog show
// the key's ID only.
func TestTokenKeyNeverPrintsItsSecret(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		fmt.Fprintf(&out, verb+"\n", key1)
		fmt.Fprintf(&out, verb+"\n", &key1)
		fmt.Fprintf(&out, verb+"\n", []push.TokenKey{key1})
	}
	slog.New(slog.NewTextHandler(&out, nil)).Info("k", "key", key1)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("k", "key", key1, "keys", []push.TokenKey{key1})
	text := out.String()
	for _, secret := range []string{string(key1.Secret), fmt.Sprintf("%x", key1.Secret), fmt.Sprintf("%X", key1.Secret), base64.StdEncoding.EncodeToString(key1.Secret), "17 17 17", "0x11"} {
		if strings.Contains(text, secret) {
			t.Errorf("the output holds the secret (as %q):\n%s", secret, text)
		}
	}
	if !strings.Contains(text, "k1") {
		t.Errorf("the output does not name the key:\n%s", text)
	}
}

// FuzzVerifyToken: any text, never a panic; and a token is valid only if
// it is one MintToken made: the fuzzer cannot alter one and keep it valid.
func FuzzVerifyToken(f *testing.F) {
	keys := []push.TokenKey{key1, key0}
	valid := map[string]bool{}
	for _, c := range []push.TokenClaims{
		{VisitID: "v-1", IssuedAt: tokenNow, Expiry: tokenNow.Add(time.Hour)},
		{VisitID: "v-1", PageID: "p-1", IssuedAt: tokenNow, NotBefore: tokenNow, Expiry: tokenNow.Add(time.Minute)},
	} {
		for _, k := range keys {
			tok := mint(f, k, c)
			valid[tok] = true
			f.Add(tok)
		}
	}
	f.Add(craft(`{"alg":"none","kid":"k1"}`, `{"sub":"v-1","exp":9999999999}`, key1.Secret))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := push.VerifyToken(token, keys, tokenNow)
		if err == nil && !valid[token] {
			claims, _ := json.Marshal(c)
			t.Fatalf("VerifyToken accepted %q, which no key signed: %s", token, claims)
		}
	})
}

// BenchmarkTokens: minting and verifying a token, beside the one
// HMAC-SHA256 each must compute (the baseline).
func BenchmarkTokens(b *testing.B) {
	c := push.TokenClaims{VisitID: "visit-0123456789abcdef", PageID: "page-01234567", IssuedAt: tokenNow, Expiry: tokenNow.Add(10 * time.Minute)}
	tok := mint(b, key1, c)
	in := []byte(tok[:strings.LastIndexByte(tok, '.')])
	b.Run("HMAC", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := hmac.New(sha256.New, key1.Secret)
			m.Write(in)
			m.Sum(nil)
		}
	})
	b.Run("Mint", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			push.MintToken(key1, c)
		}
	})
	b.Run("Verify", func(b *testing.B) {
		b.ReportAllocs()
		keys := []push.TokenKey{key0, key1}
		for b.Loop() {
			if _, err := push.VerifyToken(tok, keys, tokenNow); err != nil {
				b.Fatal(err)
			}
		}
	})
}
