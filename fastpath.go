package gateway

import (
	"reflect"

	"github.com/engagekit/gateway/internal/rules"
)

// The handler's fast path. The validator tags on Profile and CancelData are
// the rules, and Validate runs the validator; but the validator walks a
// struct by reflection, which is most of the cost of a request. So the
// handler first runs the same tags compiled at start-up by package
// internal/rules: when they say a value certainly passes, the validator is
// not run; when they say anything else, the validator decides and writes
// the report. Changing a tag changes both at once. FuzzFastPathAgrees
// checks that the fast path never accepts what the validator rejects.
//
// The raw JSON of userData and Extra is not checked here: the decoder
// takes only values that pass Validate's checks of them.

var (
	profileRules = rules.Compile(reflect.TypeFor[Profile]())
	cancelRules  = rules.Compile(reflect.TypeFor[CancelData]())
)

// langCache remembers the language tags the validator accepted (the BCP 47
// check is the dearest rule, and a site sees few languages); bounded.
type langCache = rules.LangCache

// fastValidProfile reports whether p certainly passes Profile's tags.
func fastValidProfile(p *Profile, langs *langCache) bool { return profileRules.Valid(p, langs) }

// learnProfile remembers p's language tags; p has passed the validator.
func learnProfile(p *Profile, langs *langCache) { profileRules.Learn(p, langs) }

// fastValidCancel reports whether c certainly passes CancelData's tags.
func fastValidCancel(c *CancelData) bool { return cancelRules.Valid(c, nil) }
