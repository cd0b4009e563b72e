package gateway_test

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// contractPath is the project's wire contract, whose numbered headings the
// code cites as "contract §N" or "§N.M".
const contractPath = "docs/contract.md"

// TestContractReferences fails when a section reference in a .go or .md
// file of the repository (every module; .git skipped) names no heading of
// docs/contract.md, listing each one by file:line.
func TestContractReferences(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile(contractPath)
	if err != nil {
		t.Fatal(err)
	}
	sections := contractSections(string(text))
	if len(sections) == 0 {
		t.Fatalf("%s has no numbered heading", contractPath)
	}
	broken, refs, err := brokenReferences(".", sections)
	if err != nil {
		t.Fatal(err)
	}
	if refs == 0 {
		t.Fatal("found no section reference at all: the scan is broken")
	}
	if len(broken) > 0 {
		t.Errorf("%d of %d section references name no heading of %s:\n\t%s",
			len(broken), refs, contractPath, strings.Join(broken, "\n\t"))
	}
}

func TestBrokenReferences(t *testing.T) {
	t.Parallel()
	// The fixtures write the section sign as "@", so that this file cites
	// nothing itself.
	const contract = "# Contract\n\n## 1. Endpoints\n\n### 1.2 Paths\n\n```\n## 2. Not a heading, in a code block\n```\n\n## 3 Responses\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name: "references to sections and subsections that exist pass",
			files: map[string]string{
				"a.go":        "// Handler serves contract @1 (@1.2) and @3.\npackage a\n",
				"docs/b.md":   "See @1, then @3.\n",
				"c/d/deep.go": "// @1.2: paths.\npackage d\n",
			},
		},
		{
			name: "a missing section and a missing subsection are listed by file and line",
			files: map[string]string{
				"a.go":         "package a\n\n// contract @7 says so.\nvar x = 1 // and @1.3\n",
				"sub/mod/x.md": "fine: @1\nbroken: @4.1.\n",
			},
			want: []string{
				"a.go:3: @7",
				"a.go:4: @1.3",
				"sub/mod/x.md:2: @4.1",
			},
		},
		{
			name:  "a heading inside a code block is not a section",
			files: map[string]string{"a.md": "@2\n"},
			want:  []string{"a.md:1: @2"},
		},
		{
			name: "only .go and .md files outside .git are read",
			files: map[string]string{
				".git/notes.md": "@9\n",
				"notes.txt":     "@9\n",
				"x.go.orig":     "@9\n",
			},
		},
	}
	sections := contractSections(contract)
	if diff := cmp.Diff(map[string]bool{"1": true, "1.2": true, "3": true}, sections); diff != "" {
		t.Fatalf("contractSections (-want +got):\n%s", diff)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, text := range tt.files {
				p := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "@", "\u00a7")), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, _, err := brokenReferences(dir, sections)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i] = strings.ReplaceAll(got[i], "\u00a7", "@")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("broken references (-want +got):\n%s", diff)
			}
		})
	}
}

var (
	// headingRE matches a numbered Markdown heading: "## 6. Delivery",
	// "### 6.1 Paths".
	headingRE = regexp.MustCompile(`^#{1,6}\s+(\d+(?:\.\d+)*)\.?(?:\s|$)`)
	// referenceRE matches a section reference: "§6", "§6.1".
	referenceRE = regexp.MustCompile("\u00a7" + `(\d+(?:\.\d+)*)`)
)

// contractSections returns the numbers of the numbered headings of a
// Markdown text, skipping fenced code blocks.
func contractSections(markdown string) map[string]bool {
	sections := map[string]bool{}
	fenced := false
	for line := range strings.Lines(markdown) {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if m := headingRE.FindStringSubmatch(line); m != nil && !fenced {
			sections[m[1]] = true
		}
	}
	return sections
}

// brokenReferences walks the .go and .md files under root, skipping .git,
// and returns every section reference that names none of sections, as
// "path:line: §N" with slash-separated paths relative to root, in walk
// order, and the number of references found in all.
func brokenReferences(root string, sections map[string]bool) (broken []string, refs int, err error) {
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(p); ext != ".go" && ext != ".md" {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			for _, m := range referenceRE.FindAllStringSubmatch(sc.Text(), -1) {
				refs++
				if !sections[m[1]] {
					broken = append(broken, fmt.Sprintf("%s:%d: %s", filepath.ToSlash(rel), n, m[0]))
				}
			}
		}
		return sc.Err()
	})
	return broken, refs, err
}
