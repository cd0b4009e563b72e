package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fixture is a small repository in the shape of ours: a root module
// example.com/gw, a nested module sub that requires it, and an examples
// module that requires both. Tests change it file by file.
func fixture() map[string]string {
	return map[string]string{
		"go.work": `go 1.26.0

use (
	.
	./examples
	./sub
)

replace example.com/gw v0.2.0 => ./

replace example.com/gw/sub v0.2.0 => ./sub
`,
		"go.mod":                "module example.com/gw\n\ngo 1.26.0\n",
		"gw.go":                 "// Package gw is the root package.\npackage gw\n\n// Answer is 42.\nfunc Answer() int { return 42 }\n",
		"push/push.go":          "// Package push is public.\npackage push\n\nimport \"example.com/gw/internal/x\"\n\n// Push is x.\nfunc Push() int { return x.X }\n",
		"internal/x/x.go":       "package x\n\nconst X = 1\n",
		"cmd/tool/main.go":      "package main\n\nfunc main() {}\n",
		"onlytests/a_test.go":   "package onlytests\n",
		"testdata/bad/bad.go":   "package bad\n\nthis does not compile\n",
		"sub/go.mod":            "module example.com/gw/sub\n\ngo 1.26.0\n\nrequire example.com/gw v0.2.0\n",
		"sub/sub.go":            "// Package sub is a nested module.\npackage sub\n\nimport \"example.com/gw\"\n\n// Twice is twice the answer.\nfunc Twice() int { return 2 * gw.Answer() }\n",
		"examples/go.mod":       "module example.com/gw/examples\n\ngo 1.26.0\n\nrequire (\n\texample.com/gw v0.2.0\n\texample.com/gw/sub v0.2.0\n)\n",
		"examples/demo/main.go": "package main\n\nimport \"example.com/gw/sub\"\n\nfunc main() { println(sub.Twice()) }\n",
	}
}

// writeFixture writes the fixture, with the files of change in place of
// its own, under a new temporary directory and returns it.
func writeFixture(t *testing.T, change map[string]string) string {
	t.Helper()
	files := fixture()
	maps.Copy(files, change)
	return writeTree(t, files)
}

// loadFixture loads the workspace of the fixture with change.
func loadFixture(t *testing.T, change map[string]string) *workspace {
	t.Helper()
	ws, err := loadWorkspace(writeFixture(t, change))
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// writeTree writes files under a new temporary directory and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change map[string]string // files to replace ("" removes one)
		want   []string
	}{
		{
			name: "a workspace whose modules require each other at the release version has no problem",
		},
		{
			name: "a nested module that requires the root at v0.0.0 through a replace has two",
			change: map[string]string{
				"sub/go.mod": "module example.com/gw/sub\n\ngo 1.26.0\n\nrequire example.com/gw v0.0.0\n\nreplace example.com/gw => ../\n",
			},
			want: []string{
				"sub/go.mod:7: replace example.com/gw: Go ignores the replace directives of a dependency, so a user's build cannot see it; the workspace (go.work) replaces our own modules",
				"sub/go.mod:5: requires example.com/gw v0.0.0, want the release version v0.2.0",
			},
		},
		{
			name:   "a go.mod that go.work does not use is a problem",
			change: map[string]string{"extra/go.mod": "module example.com/gw/extra\n\ngo 1.26.0\n"},
			want:   []string{"extra/go.mod: not listed in go.work, so nothing checks it: go work use ./extra"},
		},
		{
			name:   "a go.mod under testdata is not a module of the repository",
			change: map[string]string{"testdata/m/go.mod": "module m\n"},
		},
		{
			name: "a nested module whose path does not match its directory is a problem",
			change: map[string]string{
				"sub/go.mod":      "module example.com/gw/other\n\ngo 1.26.0\n\nrequire example.com/gw v0.2.0\n",
				"examples/go.mod": "module example.com/gw/examples\n\ngo 1.26.0\n\nrequire example.com/gw v0.2.0\n",
			},
			want: []string{
				"sub/go.mod:1: module example.com/gw/other: a published module in sub must be example.com/gw/sub, or its tag sub/v0.2.0 names another module",
				"go.work:11: replace example.com/gw/sub v0.2.0 => ./sub: go.work may replace only a published module, at the release version v0.2.0, by its own directory",
			},
		},
		{
			name: "a requirement on a module of ours that is not published is a problem",
			change: map[string]string{
				"sub/go.mod": "module example.com/gw/sub\n\ngo 1.26.0\n\nrequire (\n\texample.com/gw v0.2.0\n\texample.com/gw/examples v0.2.0\n)\n",
			},
			want: []string{"sub/go.mod:7: requires example.com/gw/examples, which is no published module of this repository"},
		},
		{
			name: "a requirement that go.work does not replace is a problem",
			change: map[string]string{
				"go.work": "go 1.26.0\n\nuse (\n\t.\n\t./examples\n\t./sub\n)\n\nreplace example.com/gw v0.2.0 => ./\n",
			},
			want: []string{"go.work: no replace example.com/gw/sub v0.2.0 => ./sub, so the workspace fetches it instead of using the working tree"},
		},
		{
			name: "go.work replacing another module is a problem",
			change: map[string]string{
				"go.work": fixture()["go.work"] + "\nreplace golang.org/x/text => ../text\n",
			},
			want: []string{"go.work:13: replace golang.org/x/text => ../text: go.work may replace only a published module, at the release version v0.2.0, by its own directory"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := loadFixture(t, tt.change)
			if diff := cmp.Diff(tt.want, ws.lint("v0.2.0")); diff != "" {
				t.Errorf("lint (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReleaseVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  map[string]string
		want    string
		wantErr string
	}{
		{name: "the version the modules agree on is the release version", want: "v0.2.0"},
		{
			name:    "modules that disagree leave it unknown",
			change:  map[string]string{"sub/go.mod": "module example.com/gw/sub\n\ngo 1.26.0\n\nrequire example.com/gw v0.0.0\n"},
			wantErr: "the modules require published modules at different versions (v0.0.0, v0.2.0): give -version to see which",
		},
		{
			name: "no requirement leaves it unknown",
			change: map[string]string{
				"sub/go.mod":      "module example.com/gw/sub\n\ngo 1.26.0\n",
				"examples/go.mod": "module example.com/gw/examples\n\ngo 1.26.0\n",
			},
			wantErr: "no module requires a published module, so the release version is unknown: give -version",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ws := loadFixture(t, tt.change)
			got, err := ws.releaseVersion()
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tt.want || gotErr != tt.wantErr {
				t.Errorf("releaseVersion() = %q, %q; want %q, %q", got, gotErr, tt.want, tt.wantErr)
			}
		})
	}
}

func TestPublicPackages(t *testing.T) {
	t.Parallel()
	ws := loadFixture(t, nil)
	var got [][]string
	var names []string
	for _, m := range ws.published() {
		names = append(names, m.tagPrefix()+"v0.2.0")
		pkgs, err := publicPackages(m)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, pkgs)
	}
	if diff := cmp.Diff([]string{"v0.2.0", "sub/v0.2.0"}, names); diff != "" {
		t.Errorf("published tags (-want +got):\n%s", diff)
	}
	want := [][]string{{"example.com/gw", "example.com/gw/push"}, {"example.com/gw/sub"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("public packages, without internal, commands, test-only packages, testdata and nested modules (-want +got):\n%s", diff)
	}
}

func TestSetVersion(t *testing.T) {
	t.Parallel()
	root := writeFixture(t, nil)
	ws, err := loadWorkspace(root)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := ws.setVersion("v0.3.0")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"examples/go.mod", "sub/go.mod", "go.work"}, changed); diff != "" {
		t.Errorf("changed files (-want +got):\n%s", diff)
	}
	ws, err = loadWorkspace(root)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := ws.releaseVersion(); v != "v0.3.0" || err != nil {
		t.Errorf("releaseVersion() = %q, %v; want v0.3.0", v, err)
	}
	if diff := cmp.Diff([]string(nil), ws.lint("v0.3.0")); diff != "" {
		t.Errorf("lint after setVersion (-want +got):\n%s", diff)
	}
	want := strings.ReplaceAll(fixture()["go.work"], "v0.2.0", "v0.3.0")
	got, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("go.work (-want +got):\n%s", diff)
	}
}

// runCheck runs the whole check on the repository in root and returns its
// log and error. upstream "off" keeps it off the network: everything then
// comes from the proxy it makes and the module cache.
func runCheck(t *testing.T, root, version, upstream string) (string, error) {
	t.Helper()
	var log bytes.Buffer
	c := &config{root: root, version: version, upstream: upstream, log: &log, env: os.Environ()}
	err := check(context.Background(), c)
	return log.String(), err
}

func TestCheck(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the go command")
	}
	tests := []struct {
		name     string
		change   map[string]string
		git      bool     // make the fixture a git repository, with everything committed
		tags     []string // and these tags on that commit
		wantLog  []string // substrings of the log
		wantErrs []string // substrings of the error; none: it passes
	}{
		{
			name: "modules at the release version are fetched and built from outside",
			wantLog: []string{
				"publishing v0.2.0, sub/v0.2.0\n",
				"example.com/gw: go get, then a build importing example.com/gw example.com/gw/push, in",
				"example.com/gw/sub: go get, then a build importing example.com/gw/sub, in",
				"all published modules: go get, then a build importing example.com/gw example.com/gw/push example.com/gw/sub, in",
				"releasecheck: ok in",
			},
		},
		{
			name: "a nested module that requires the root at v0.0.0 and replaces it cannot be fetched",
			change: map[string]string{
				"sub/go.mod": "module example.com/gw/sub\n\ngo 1.26.0\n\nrequire example.com/gw v0.0.0\n\nreplace example.com/gw => ../\n",
			},
			wantErrs: []string{
				"sub/go.mod:7: replace example.com/gw:",
				"sub/go.mod:5: requires example.com/gw v0.0.0, want the release version v0.2.0",
				"a module outside the repository using example.com/gw/sub:\ngo get example.com/gw/sub@v0.2.0: exit status 1",
				"go: downloading example.com/gw v0.0.0",
			},
		},
		{
			name: "a file that git ignores is not published, so a package that needs it fails",
			git:  true,
			change: map[string]string{
				".gitignore":    "generated.go\n",
				"generated.go":  "package gw\n\n// Generated is needed by push.\nconst Generated = 1\n",
				"push/push.go":  "// Package push is public.\npackage push\n\nimport \"example.com/gw\"\n\n// Push is gw.Generated.\nfunc Push() int { return gw.Generated }\n",
				"scratch/x.txt": "ignored?",
			},
			wantErrs: []string{
				"a module outside the repository using example.com/gw:\ngo build -trimpath -o /dev/null .: exit status 1",
				"undefined: gw.Generated",
			},
		},
		{
			name: "a version that is already tagged is refused",
			git:  true,
			tags: []string{"sub/v0.2.0"},
			wantErrs: []string{
				"already tagged: sub/v0.2.0; a pushed tag is never moved, so start the next version: go run ./tools/releasecheck -set-version <next>",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := writeFixture(t, tt.change)
			if tt.git {
				gitCommitAll(t, root, tt.tags...)
			}
			log, err := runCheck(t, root, "v0.2.0", "off")
			for _, s := range tt.wantLog {
				if !strings.Contains(log, s) {
					t.Errorf("log lacks %q:\n%s", s, log)
				}
			}
			if len(tt.wantErrs) == 0 && err != nil {
				t.Fatalf("check failed:\n%v\nlog:\n%s", err, log)
			}
			if len(tt.wantErrs) > 0 && err == nil {
				t.Fatalf("check passed, want it to fail; log:\n%s", log)
			}
			for _, s := range tt.wantErrs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q:\n%v", s, err)
				}
			}
		})
	}
}

// TestCheckRepositoryCopy re-introduces, in a copy of this repository, the
// defect releasecheck exists for: natsfanout requiring the root module at
// v0.0.0 through a replace directive, as it did before v0.2.0. The check
// must name both lines and show that a module outside cannot go get
// natsfanout, while the root module alone still passes.
func TestCheckRepositoryCopy(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the go command against a copy of the repository")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is needed to list the repository's files")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	copyRepo(t, repo, root)

	gomod := filepath.Join(root, "natsfanout", "go.mod")
	data, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	old := "github.com/engagekit/gateway v0.2.0\n"
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("natsfanout/go.mod does not require %q; update this test", old)
	}
	data = bytes.Replace(data, []byte(old), []byte("github.com/engagekit/gateway v0.0.0\n"), 1)
	data = append(data, "\nreplace github.com/engagekit/gateway => ../\n"...)
	if err := os.WriteFile(gomod, data, 0o644); err != nil {
		t.Fatal(err)
	}

	log, err := runCheck(t, root, "v0.2.0", "")
	if err == nil {
		t.Fatalf("check passed, want it to fail; log:\n%s", log)
	}
	for _, s := range []string{
		"natsfanout/go.mod:",
		"replace github.com/engagekit/gateway: Go ignores the replace directives of a dependency",
		"requires github.com/engagekit/gateway v0.0.0, want the release version v0.2.0",
		"a module outside the repository using github.com/engagekit/gateway/natsfanout:\ngo get github.com/engagekit/gateway/natsfanout@v0.2.0: exit status 1",
		"github.com/engagekit/gateway@v0.0.0",
	} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q:\n%v", s, err)
		}
	}
	if s := "releasecheck: github.com/engagekit/gateway: go get, then a build importing"; !strings.Contains(log, s) {
		t.Errorf("the root module alone should still pass; log lacks %q:\n%s", s, log)
	}
}

// copyRepo copies the files of the repository at src that a commit would
// hold (tracked, or new and not ignored) to dst, without .git.
func copyRepo(t *testing.T, src, dst string) {
	t.Helper()
	out, err := exec.Command("git", "-C", src, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for name := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		from := filepath.Join(src, filepath.FromSlash(name))
		info, err := os.Lstat(from)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the work tree, or a link
		}
		to := filepath.Join(dst, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		r, err := os.Open(from)
		if err != nil {
			t.Fatal(err)
		}
		w, err := os.Create(to)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(w, r)
		r.Close()
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// gitCommitAll makes dir a git repository holding what it holds, minus
// what its .gitignore names, and tags that commit with tags.
func gitCommitAll(t *testing.T, dir string, tags ...string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	cmds := [][]string{
		{"init", "-q"},
		{"add", "."},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "fixture"},
	}
	for _, tag := range tags {
		cmds = append(cmds, []string{"tag", tag})
	}
	for _, args := range cmds {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
