package shop

import (
	"errors"
	"testing"
	"time"

	"github.com/engagekit/gateway/push"
	"github.com/golang-jwt/jwt/v5"
)

// TestTokensInteroperate: a host that signs with a common JWT library
// (golang-jwt) makes tokens the broker takes, and a token push.MintToken
// makes is one such a library verifies; what the broker must refuse from
// that library (alg none, HS512), it refuses.
func TestTokensInteroperate(t *testing.T) {
	key, _ := push.NewTokenKey("k1")
	now := time.Now()
	sign := func(method jwt.SigningMethod, secret any) string {
		tok := jwt.NewWithClaims(method, jwt.MapClaims{"sub": "v-1", "page": "p-1", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "iss": "shop"})
		tok.Header["kid"] = key.ID
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("the broker takes golang-jwt's HS256 token", func(t *testing.T) {
		c, err := push.VerifyToken(sign(jwt.SigningMethodHS256, key.Secret), []push.TokenKey{key}, now)
		if err != nil || c.VisitID != "v-1" || c.PageID != "p-1" || c.Expiry.Unix() != now.Add(time.Minute).Unix() {
			t.Errorf("VerifyToken: %+v, %v", c, err)
		}
	})
	t.Run("golang-jwt verifies MintToken's token", func(t *testing.T) {
		s, err := push.MintToken(key, push.TokenClaims{VisitID: "v-1", PageID: "p-1"})
		if err != nil {
			t.Fatal(err)
		}
		claims := jwt.MapClaims{}
		tok, err := jwt.ParseWithClaims(s, claims, func(tok *jwt.Token) (any, error) {
			if tok.Header["kid"] != key.ID {
				return nil, errors.New("kid")
			}
			return key.Secret, nil
		}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
		if err != nil || !tok.Valid || claims["sub"] != "v-1" || claims["page"] != "p-1" || tok.Header["typ"] != "JWT" {
			t.Errorf("golang-jwt: %v %v %v", err, claims, tok.Header)
		}
	})
	for name, s := range map[string]string{
		"alg none": sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType),
		"HS512":    sign(jwt.SigningMethodHS512, key.Secret),
	} {
		t.Run("the broker refuses golang-jwt's "+name+" token", func(t *testing.T) {
			if _, err := push.VerifyToken(s, []push.TokenKey{key}, now); !errors.Is(err, push.ErrTokenInvalid) {
				t.Errorf("VerifyToken: %v, want ErrTokenInvalid", err)
			}
		})
	}
}
