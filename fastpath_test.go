package gateway

import (
	"testing"
)

// FuzzFastPathAgrees checks the promise the fast path rests on: whatever it
// accepts, the validator accepts too.
func FuzzFastPathAgrees(f *testing.F) {
	f.Add(`{"interactionID":"i","visitID":"v","channels":["chat"]}`)
	f.Add(`{"interactionID":"i","visitID":"v","pageID":"p","globalVisitID":"g","channels":["chat","callback"],"language":"fr-CA","expiresIn":30,"invitation":{"title":"t","message":"m","url":"https://x.test/a"}}`)
	f.Add(`{"interactionID":"i","visitID":"v","channels":["a","a"],"language":"zz-ZZ-x"}`)
	f.Fuzz(func(t *testing.T, text string) {
		var p Profile
		if p.decode(text) != nil {
			return
		}
		var langs langCache
		for _, l := range []string{"en", "fr-CA", p.Language} {
			// The cache only ever holds tags the validator accepted.
			if l != "" && validate().Var(l, "bcp47_language_tag") == nil {
				langs.learn(l)
			}
		}
		if fastValidProfile(&p, &langs) {
			if err := p.Validate(); err != nil {
				t.Fatalf("fast path accepted what the validator rejects: %v\n%s", err, text)
			}
		}
		var c CancelData
		if c.decode(text) == nil && fastValidCancel(&c) {
			if err := c.Validate(); err != nil {
				t.Fatalf("fast path accepted a cancel the validator rejects: %v\n%s", err, text)
			}
		}
	})
}

func TestLangCacheIsBounded(t *testing.T) {
	var c langCache
	for i := range maxLangs + 50 {
		c.learn("x-" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
	}
	if n := c.n.Load(); n != maxLangs {
		t.Errorf("cache holds %d tags, want the bound %d", n, maxLangs)
	}
}
