package shop

import (
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/push"
)

// TestPageAndToken: the page renders a token for its visit and page; the
// token endpoint mints one for the visit of the cookie only.
func TestPageAndToken(t *testing.T) {
	key, _ := push.NewTokenKey("k1")
	s := New(Config{TokenKey: &key, TokenTTL: time.Minute})
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", s.Page())
	mux.Handle("GET "+TokenPath, s.Token())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == visitCookie {
			cookie = c
		}
	}
	if cookie == nil || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("page: cookie %v, Cache-Control %q", cookie, resp.Header.Get("Cache-Control"))
	}
	_, rest, _ := strings.Cut(string(html), `var token = "`)
	token, _, _ := strings.Cut(rest, `"`)
	c, err := push.VerifyToken(token, []push.TokenKey{key}, time.Now())
	if err != nil {
		t.Fatalf("the page's token: %v", err)
	}
	if c.VisitID != cookie.Value || !strings.Contains(string(html), `var pageID = "`+c.PageID+`"`) || c.Expiry.Sub(c.IssuedAt) != time.Minute {
		t.Errorf("the page's token opens %+v; the page is of visit %s", c, cookie.Value)
	}

	get := func(path string, withCookie bool) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if withCookie {
			req.AddCookie(cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get(TokenPath+"?pageID=p-2", true)
	if code != 200 {
		t.Fatalf("token: %d %s", code, body)
	}
	c, err = push.VerifyToken(body, []push.TokenKey{key}, time.Now())
	if err != nil || c.VisitID != cookie.Value || c.PageID != "p-2" {
		t.Errorf("token endpoint: %+v %v, want visit %s, page p-2", c, err, cookie.Value)
	}
	if code, _ := get(TokenPath+"?pageID=p-2", false); code != 401 {
		t.Errorf("token without the visit's cookie: %d, want 401", code)
	}
	if code, _ := get(TokenPath+"?pageID=p%202", true); code != 400 {
		t.Errorf("token for an invalid pageID: %d, want 400", code)
	}
}

// TestSecurityFlags: engageauth's credentials and -insecure, and a key
// from the flag, else the environment, else a random one; a key that does
// not parse is an error; -insecure turns the key off too.
func TestSecurityFlags(t *testing.T) {
	key, _ := push.NewTokenKey("env-key")
	for _, tc := range []struct {
		name          string
		args          []string
		env           map[string]string
		wantUser      string
		wantKey       *push.TokenKey // nil with wantGenerated: a random one
		wantGenerated bool
		wantInsecure  bool
		wantErr       bool
	}{
		{"defaults", nil, nil, "engage", nil, true, false, false},
		{"the environment", nil, map[string]string{engageauth.EnvUser: "u", EnvTokenKey: push.FormatTokenKey(key)}, "u", &key, false, false, false},
		{"flags over the environment", []string{"-user", "f", "-token-key", push.FormatTokenKey(key)}, map[string]string{engageauth.EnvUser: "u", EnvTokenKey: "k1:short"}, "f", &key, false, false, false},
		{"a key that does not parse", []string{"-token-key", "k1:short"}, nil, "", nil, false, false, true},
		{"insecure", []string{"-insecure", "-token-key", push.FormatTokenKey(key)}, nil, "", nil, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{engageauth.EnvUser, engageauth.EnvPassword, EnvTokenKey} {
				t.Setenv(k, tc.env[k])
			}
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			resolve := SecurityFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			got, err := resolve()
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want one: %v", err, tc.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), "short") {
					t.Errorf("the error quotes the key: %v", err)
				}
				return
			}
			if got.User != tc.wantUser || got.Insecure != tc.wantInsecure || (got.Password == "") != tc.wantInsecure {
				t.Errorf("credentials %+v, want user %q, insecure %v", got.Credentials, tc.wantUser, tc.wantInsecure)
			}
			if got.generatedKey != tc.wantGenerated {
				t.Errorf("generated key: %v, want %v", got.generatedKey, tc.wantGenerated)
			}
			switch {
			case tc.wantInsecure:
				if got.TokenKey != nil {
					t.Errorf("insecure with a token key")
				}
			case tc.wantGenerated:
				if got.TokenKey == nil || len(got.TokenKey.Secret) < push.MinTokenSecret {
					t.Errorf("generated key %v", got.TokenKey)
				}
			default:
				if got.TokenKey == nil || push.FormatTokenKey(*got.TokenKey) != push.FormatTokenKey(*tc.wantKey) {
					t.Errorf("token key %v, want %v", got.TokenKey, tc.wantKey)
				}
			}
		})
	}
}
