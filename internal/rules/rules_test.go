package rules

import (
	"errors"
	"reflect"
	"testing"

	"github.com/go-playground/validator/v10"
	"github.com/google/go-cmp/cmp"
)

// TestMessages checks the message of every rule, derived from the tag's
// rule and parameter, and from the custom rule's own text.
func TestMessages(t *testing.T) {
	type inner struct {
		URL string `json:"url" validate:"omitempty,httpurl"`
	}
	for _, tc := range []struct {
		name  string
		value any
		want  FieldError
	}{
		{"required on a string", &struct {
			ID string `json:"id" validate:"required"`
		}{}, FieldError{"id", "required", "id is required"}},
		{"required on a list", &struct {
			List []string `json:"list" validate:"required"`
		}{}, FieldError{"list", "required", "list is required"}},
		{"required_if", &struct {
			Result  string `json:"result"`
			Channel string `json:"channel" validate:"required_if=Result accepted"`
		}{Result: "accepted"}, FieldError{"channel", "required_if", "channel is required"}},
		{"oneof", &struct {
			Result string `json:"result" validate:"oneof=accepted rejected"`
		}{Result: "maybe"}, FieldError{"result", "oneof", "result must be one of: accepted rejected"}},
		{"min on a string counts characters", &struct {
			S string `json:"s" validate:"min=3"`
		}{S: "éé"}, FieldError{"s", "min", "s must be at least 3 characters long"}},
		{"max on a string counts characters", &struct {
			S string `json:"s" validate:"max=2"`
		}{S: "ééé"}, FieldError{"s", "max", "s must be at most 2 characters long"}},
		{"min on a list", &struct {
			L []string `json:"l" validate:"min=1"`
		}{L: []string{}}, FieldError{"l", "min", "l must have at least 1 entries"}},
		{"max on a list", &struct {
			L []string `json:"l" validate:"max=1"`
		}{L: []string{"a", "b"}}, FieldError{"l", "max", "l must have at most 1 entries"}},
		{"min on a number", &struct {
			N int `json:"n" validate:"min=0"`
		}{N: -1}, FieldError{"n", "min", "n must be at least 0"}},
		{"max on a number", &struct {
			N int `json:"n" validate:"max=1800"`
		}{N: 1801}, FieldError{"n", "max", "n must be at most 1800"}},
		{"max on an unsigned number", &struct {
			U uint `json:"u" validate:"max=3"`
		}{U: 4}, FieldError{"u", "max", "u must be at most 3"}},
		{"unique", &struct {
			L []string `json:"l" validate:"unique"`
		}{L: []string{"a", "a"}}, FieldError{"l", "unique", "l must not repeat an entry"}},
		{"gweid", &struct {
			ID string `json:"id" validate:"gweid"`
		}{ID: "a b"}, FieldError{"id", "gweid", "id may hold only letters, digits, '.', '_', ':' and '-'"}},
		{"channel on an entry", &struct {
			L []string `json:"channels" validate:"dive,channel"`
		}{L: []string{"chat", "Video"}}, FieldError{"channels[1]", "channel", "channels[1] may hold only a-z, 0-9, '_' and '-'"}},
		{"httpurl in a nested struct", &struct {
			Inner *inner `json:"invitation"`
		}{Inner: &inner{URL: "ftp://x.test/"}}, FieldError{"invitation.url", "httpurl", "invitation.url must be an absolute http or https URL"}},
		{"bcp47_language_tag", &struct {
			L string `json:"language" validate:"bcp47_language_tag"`
		}{L: "not a tag"}, FieldError{"language", "bcp47_language_tag", "language must be a BCP 47 language tag"}},
		{"a rule without a message of its own", &struct {
			E string `json:"email" validate:"email"`
		}{E: "x"}, FieldError{"email", "email", "email breaks the rule email"}},
		{"a field without a JSON name", &struct {
			Name string `validate:"required"`
		}{}, FieldError{"Name", "required", "Name is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cause := Struct(tc.value)
			if diff := cmp.Diff([]FieldError{tc.want}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			var ves validator.ValidationErrors
			if !errors.As(cause, &ves) {
				t.Errorf("the cause %v is not the validator's errors", cause)
			}
		})
	}
}

type named struct {
	ID   string `json:"interactionID" validate:"required,max=4,gweid"`
	Next *struct {
		Page string `json:"pageID" validate:"omitempty,gweid"`
	} `json:"next"`
}

func TestStruct(t *testing.T) {
	t.Run("a valid struct has no broken rule and no cause", func(t *testing.T) {
		got, cause := Struct(&named{ID: "i"})
		if got != nil || cause != nil {
			t.Errorf("Struct = %v, %v; want nil, nil", got, cause)
		}
	})
	t.Run("every broken rule in field order, named without the type", func(t *testing.T) {
		v := named{ID: "toolong"}
		v.Next = &struct {
			Page string `json:"pageID" validate:"omitempty,gweid"`
		}{Page: "a/b"}
		got, _ := Struct(v) // a struct value too
		want := []FieldError{
			{"interactionID", "max", "interactionID must be at most 4 characters long"},
			{"next.pageID", "gweid", "next.pageID may hold only letters, digits, '.', '_', ':' and '-'"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("a nil pointer is the validator's error alone", func(t *testing.T) {
		got, cause := Struct((*named)(nil))
		var ive *validator.InvalidValidationError
		if got != nil || !errors.As(cause, &ive) {
			t.Errorf("Struct(nil) = %v, %v; want no fields and an InvalidValidationError", got, cause)
		}
	})
}

func TestCustomRules(t *testing.T) {
	for _, tc := range []struct {
		rule  string
		value string
		want  bool
	}{
		{"gweid", "", true},
		{"gweid", "AZaz09._:-", true},
		{"gweid", "a b", false},
		{"gweid", "a/b", false},
		{"gweid", "é", false},
		{"gweid", "a@", false},
		{"gweid", "a[", false},
		{"gweid", "a`", false},
		{"gweid", "a{", false},
		{"gweid", "a/", false},
		{"gweid", "a;", false},
		{"channel", "", false},
		{"channel", "az09_-", true},
		{"channel", "Chat", false},
		{"channel", "a.b", false},
		{"channel", "a:", false},
		{"channel", "a`", false},
		{"channel", "a{", false},
		{"channel", "a/", false},
		{"msgchannel", "", false},
		{"msgchannel", "gpe.appendContent", true},
		{"msgchannel", "Az09._-", true},
		{"msgchannel", "a:b", false},
		{"msgchannel", "a b", false},
		{"msgchannel", "a/", false},
		{"msgchannel", "é", false},
		{"httpurl", "http://x.test", true},
		{"httpurl", "https://x.test/a?b=c", true},
		{"httpurl", "ftp://x.test/", false},
		{"httpurl", "https:///path", false},
		{"httpurl", "https://user@x.test/", false},
		{"httpurl", "/relative", false},
		{"httpurl", "http://x.test/%zz", false},
	} {
		t.Run(tc.rule+" "+tc.value, func(t *testing.T) {
			c, ok := lookupCustom(tc.rule)
			if !ok {
				t.Fatalf("no custom rule %s", tc.rule)
			}
			if got := c.check(tc.value); got != tc.want {
				t.Errorf("check(%q) = %v, want %v", tc.value, got, tc.want)
			}
			// The validator runs the same check.
			if got := validate().Var(tc.value, tc.rule) == nil; got != tc.want {
				t.Errorf("the validator says %v for %q, want %v", got, tc.value, tc.want)
			}
		})
	}
}

func TestFieldOf(t *testing.T) {
	type profile struct {
		VisitID string `json:"visitID" validate:"required,max=8,gweid"`
		PageID  string `json:"pageID,omitempty" validate:"omitempty,max=8,gweid"`
		Mail    string `json:"mail" validate:"omitempty,email"`
		Plain   string
		Count   int
	}
	typ := reflect.TypeFor[profile]()
	visit, page, mail, plain := FieldOf(typ, "VisitID"), FieldOf(typ, "PageID"), FieldOf(typ, "Mail"), FieldOf(typ, "Plain")
	if mail.known {
		t.Error("a field with a rule Compile does not know has a fast check")
	}
	for _, tc := range []struct {
		name  string
		field *Field
		value string
		want  *FieldError
	}{
		{"a valid visitID", visit, "v-1", nil},
		{"a visitID at its bound", visit, "12345678", nil},
		{"an empty visitID", visit, "", &FieldError{"visitID", "required", "visitID is required"}},
		{"a visitID past its bound", visit, "123456789", &FieldError{"visitID", "max", "visitID must be at most 8 characters long"}},
		{"a visitID with a slash", visit, "a/b", &FieldError{"visitID", "gweid", "visitID may hold only letters, digits, '.', '_', ':' and '-'"}},
		{"no pageID", page, "", nil},
		{"a bad pageID", page, "p p", &FieldError{"pageID", "gweid", "pageID may hold only letters, digits, '.', '_', ':' and '-'"}},
		{"an unknown rule goes to the validator, which passes", mail, "a@x.test", nil},
		{"an unknown rule goes to the validator, which refuses", mail, "nope", &FieldError{"mail", "email", "mail breaks the rule email"}},
		{"a field without rules", plain, "anything at all", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.field.Check(tc.value)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, name := range []string{"Missing", "Count"} {
		t.Run("FieldOf panics for "+name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			FieldOf(typ, name)
		})
	}
}

func TestLangCache(t *testing.T) {
	t.Run("it is bounded", func(t *testing.T) {
		var c LangCache
		for i := range maxLangs + 50 {
			c.learn("x-" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
		}
		if n := c.Len(); n != maxLangs {
			t.Errorf("cache holds %d tags, want the bound %d", n, maxLangs)
		}
	})
	t.Run("it learns once and never the empty tag", func(t *testing.T) {
		var c LangCache
		c.learn("en")
		c.learn("en")
		c.learn("")
		if c.Len() != 1 || !c.knows("en") || c.knows("") || c.knows("fr") {
			t.Errorf("after learning en twice and the empty tag: %d tags", c.Len())
		}
	})
	t.Run("a nil cache knows nothing and learns nothing", func(t *testing.T) {
		var c *LangCache
		c.learn("en")
		if c.knows("en") {
			t.Error("a nil cache knows en")
		}
	})
}

func TestMax(t *testing.T) {
	type s struct {
		List  []string `validate:"required,min=1,max=8,unique,dive,max=32"`
		Deep  []string `validate:"dive,max=3"`
		Hex   string   `validate:"max=0x10"`
		Bad   string   `validate:"max=ten"`
		Plain string
	}
	typ := reflect.TypeFor[s]()
	for _, tc := range []struct {
		field  string
		want   int
		wantOK bool
	}{
		{"List", 8, true},
		{"Deep", 0, false},
		{"Hex", 16, true},
		{"Bad", 0, false},
		{"Plain", 0, false},
		{"Missing", 0, false},
	} {
		t.Run(tc.field, func(t *testing.T) {
			n, ok := Max(typ, tc.field)
			if n != tc.want || ok != tc.wantOK {
				t.Errorf("Max = %d, %v; want %d, %v", n, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestSplitTag(t *testing.T) {
	if got := splitTag(""); got != nil {
		t.Errorf("splitTag(\"\") = %q, want nil", got)
	}
	if diff := cmp.Diff([]string{"omitempty", "max=3", "a|b"}, splitTag("omitempty,max=3,a|b")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
