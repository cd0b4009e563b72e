package gateway

import (
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// The handler's fast path. The validator tags on Profile and CancelData are
// the rules, and Validate runs the validator. But the validator walks a
// struct by reflection, at about 280 ns a field on a 2.5 GHz server core,
// which is most of the cost of an engage request. So the handler first runs
// the hand-compiled copies of the tags below: when one says a value
// certainly passes, the validator is not run; when it says anything else,
// the validator decides and writes the report. The fast path can thus only
// be wrong by accepting what the validator would reject, and
// FuzzFastPathAgrees checks, on every input it makes, that it never does.
// Change a tag, change its copy here.

// langCache remembers language tags the validator accepted, since the
// BCP 47 check (a registry lookup in golang.org/x/text) is the dearest rule
// and a site sees few distinct languages. It holds at most maxLangs tags.
type langCache struct {
	m sync.Map // string → struct{}
	n atomic.Int32
}

const maxLangs = 256

func (c *langCache) known(tag string) bool {
	_, ok := c.m.Load(tag)
	return ok
}

func (c *langCache) learn(tag string) {
	if tag == "" || c.known(tag) || c.n.Load() >= maxLangs {
		return
	}
	if _, loaded := c.m.LoadOrStore(tag, struct{}{}); !loaded {
		c.n.Add(1)
	}
}

// fastValidProfile reports whether p certainly passes Profile's tags.
func fastValidProfile(p *Profile, langs *langCache) bool {
	if !fastID(p.InteractionID, 64, true) || !fastID(p.VisitID, 128, true) ||
		!fastID(p.GlobalVisitID, 128, false) || !fastID(p.PageID, 128, false) {
		return false
	}
	if len(p.Channels) < 1 || len(p.Channels) > MaxChannels { // nil too: "required"
		return false
	}
	for i, c := range p.Channels {
		if len(c) > 32 || !isChannel(c) { // isChannel rejects "", and is ASCII: bytes are characters
			return false
		}
		for _, d := range p.Channels[:i] {
			if c == d {
				return false
			}
		}
	}
	if p.Language != "" && !langs.known(p.Language) {
		return false
	}
	if p.ExpiresIn < 0 || p.ExpiresIn > MaxExpiresIn {
		return false
	}
	if inv := p.Invitation; inv != nil {
		if utf8.RuneCountInString(inv.Title) > 200 || utf8.RuneCountInString(inv.Message) > 2000 {
			return false
		}
		if inv.URL != "" && (utf8.RuneCountInString(inv.URL) > 2048 || !isHTTPURL(inv.URL)) {
			return false
		}
	}
	return true
}

// fastValidCancel reports whether c certainly passes CancelData's tags.
func fastValidCancel(c *CancelData) bool {
	return fastID(c.InteractionID, 64, true) && fastID(c.VisitID, 128, true) && fastID(c.Reason, 64, false)
}

// fastID is "required,max=N,gweid" when required, else
// "omitempty,max=N,gweid". isID admits only ASCII, so bytes are characters.
func fastID(s string, max int, required bool) bool {
	if s == "" {
		return !required
	}
	return len(s) <= max && isID(s)
}
