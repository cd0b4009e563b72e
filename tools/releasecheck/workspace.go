package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// unpublished names the top-level directories whose modules are never
// tagged: they are developed in the workspace but nobody imports them.
var unpublished = []string{"examples", "tools"}

// A wsModule is one module listed in go.work.
type wsModule struct {
	dir       string // absolute directory
	rel       string // directory relative to the workspace root, slash-separated; "." for the root
	path      string // module path
	file      *modfile.File
	published bool // tagged and fetched by users
}

// tagPrefix is what precedes the version in the module's tag: "" for the
// root module, "natsfanout/" for the module in natsfanout.
func (m *wsModule) tagPrefix() string {
	if m.rel == "." {
		return ""
	}
	return m.rel + "/"
}

// A workspace is the repository as go.work describes it.
type workspace struct {
	root    string // directory holding go.work
	work    *modfile.WorkFile
	modules []*wsModule // in go.work order
}

// loadWorkspace reads root/go.work and the go.mod of every module it uses.
func loadWorkspace(root string) (*workspace, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	name := filepath.Join(root, "go.work")
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	work, err := modfile.ParseWork(name, data, nil)
	if err != nil {
		return nil, err
	}
	ws := &workspace{root: root, work: work}
	for _, u := range work.Use {
		dir := filepath.Clean(filepath.Join(root, filepath.FromSlash(u.Path)))
		rel, err := filepath.Rel(root, dir)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, fmt.Errorf("go.work:%d: use %s: outside the repository", u.Syntax.Start.Line, u.Path)
		}
		rel = filepath.ToSlash(rel)
		gomod := filepath.Join(dir, "go.mod")
		data, err := os.ReadFile(gomod)
		if err != nil {
			return nil, fmt.Errorf("go.work:%d: %w", u.Syntax.Start.Line, err)
		}
		f, err := modfile.Parse(gomod, data, nil)
		if err != nil {
			return nil, err
		}
		if f.Module == nil {
			return nil, fmt.Errorf("%s: no module directive", gomod)
		}
		top, _, _ := strings.Cut(rel, "/")
		ws.modules = append(ws.modules, &wsModule{
			dir:       dir,
			rel:       rel,
			path:      f.Module.Mod.Path,
			file:      f,
			published: !slices.Contains(unpublished, top),
		})
	}
	if ws.rootModule() == nil {
		return nil, fmt.Errorf("%s: the repository root (use .) is not in the workspace", name)
	}
	return ws, nil
}

// rootModule returns the module at the repository root, or nil.
func (ws *workspace) rootModule() *wsModule {
	for _, m := range ws.modules {
		if m.rel == "." {
			return m
		}
	}
	return nil
}

// published returns the modules that are tagged, root first.
func (ws *workspace) published() []*wsModule {
	var out []*wsModule
	for _, m := range ws.modules {
		if m.published {
			out = append(out, m)
		}
	}
	slices.SortStableFunc(out, func(a, b *wsModule) int {
		return strings.Compare(strings.TrimPrefix(a.rel, "."), strings.TrimPrefix(b.rel, "."))
	})
	return out
}

// publishedPath returns the published module whose path is p, or nil.
func (ws *workspace) publishedPath(p string) *wsModule {
	for _, m := range ws.modules {
		if m.published && m.path == p {
			return m
		}
	}
	return nil
}

// ownPath reports whether the module path p belongs to this repository:
// the root module's path or a path below it.
func (ws *workspace) ownPath(p string) bool {
	r := ws.rootModule().path
	return p == r || strings.HasPrefix(p, r+"/")
}

// releaseVersion returns the version at which the workspace's modules
// require the published modules. They must all agree: that version is the
// one the next tags carry.
func (ws *workspace) releaseVersion() (string, error) {
	var versions []string
	for _, m := range ws.modules {
		for _, r := range m.file.Require {
			if ws.publishedPath(r.Mod.Path) != nil && !slices.Contains(versions, r.Mod.Version) {
				versions = append(versions, r.Mod.Version)
			}
		}
	}
	switch len(versions) {
	case 0:
		return "", errors.New("no module requires a published module, so the release version is unknown: give -version")
	case 1:
		return versions[0], nil
	}
	semver.Sort(versions)
	return "", fmt.Errorf("the modules require published modules at different versions (%s): give -version to see which", strings.Join(versions, ", "))
}

// lint returns every way in which the workspace's go.mod and go.work files
// would keep a published module from being fetched at version, one line
// each, prefixed with file:line.
func (ws *workspace) lint(version string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if !semver.IsValid(version) || semver.Canonical(version) != version || semver.Build(version) != "" {
		add("%s: not a canonical semantic version (want the form v0.2.0)", version)
		return problems
	}

	listed := map[string]bool{}
	for _, m := range ws.modules {
		listed[m.dir] = true
	}
	for _, dir := range ws.goModDirs() {
		if !listed[dir] {
			rel, _ := filepath.Rel(ws.root, dir)
			add("%s/go.mod: not listed in go.work, so nothing checks it: go work use ./%s", filepath.ToSlash(rel), filepath.ToSlash(rel))
		}
	}

	rootPath := ws.rootModule().path
	for _, m := range ws.modules {
		gomod := path.Join(m.rel, "go.mod")
		if m.published && m.rel != "." && m.path != rootPath+"/"+m.rel {
			add("%s:%d: module %s: a published module in %s must be %s/%s, or its tag %s%s names another module",
				gomod, m.file.Module.Syntax.Start.Line, m.path, m.rel, rootPath, m.rel, m.tagPrefix(), version)
		}
		if mp := module.CheckPath(m.path); m.published && mp != nil {
			add("%s:%d: %v", gomod, m.file.Module.Syntax.Start.Line, mp)
		}
		for _, r := range m.file.Replace {
			add("%s:%d: replace %s: Go ignores the replace directives of a dependency, so a user's build cannot see it; the workspace (go.work) replaces our own modules",
				gomod, r.Syntax.Start.Line, r.Old.Path)
		}
		for _, r := range m.file.Require {
			if !ws.ownPath(r.Mod.Path) {
				continue
			}
			line := r.Syntax.Start.Line
			switch {
			case ws.publishedPath(r.Mod.Path) == nil:
				add("%s:%d: requires %s, which is no published module of this repository", gomod, line, r.Mod.Path)
			case r.Mod.Version != version:
				add("%s:%d: requires %s %s, want the release version %s", gomod, line, r.Mod.Path, r.Mod.Version, version)
			case !ws.replacedAt(r.Mod.Path, version):
				add("go.work: no replace %s %s => ./%s, so the workspace fetches it instead of using the working tree",
					r.Mod.Path, version, ws.publishedPath(r.Mod.Path).rel)
			}
		}
	}

	for _, r := range ws.work.Replace {
		m := ws.publishedPath(r.Old.Path)
		ok := m != nil && r.Old.Version == version && modfile.IsDirectoryPath(r.New.Path) &&
			filepath.Clean(filepath.Join(ws.root, filepath.FromSlash(r.New.Path))) == m.dir
		if !ok {
			add("go.work:%d: replace %s => %s: go.work may replace only a published module, at the release version %s, by its own directory",
				r.Syntax.Start.Line, strings.TrimSpace(r.Old.Path+" "+r.Old.Version), r.New.Path, version)
		}
	}
	return problems
}

// replacedAt reports whether go.work replaces module p at version v by a
// directory.
func (ws *workspace) replacedAt(p, v string) bool {
	for _, r := range ws.work.Replace {
		if r.Old.Path == p && r.Old.Version == v && modfile.IsDirectoryPath(r.New.Path) {
			return true
		}
	}
	return false
}

// goModDirs returns every directory of the repository that holds a go.mod,
// skipping what the go command skips: hidden and _ directories, testdata
// and vendor.
func (ws *workspace) goModDirs() []string {
	var dirs []string
	filepath.WalkDir(ws.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			n := d.Name()
			if p != ws.root && (strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == "go.mod" {
			dirs = append(dirs, filepath.Dir(p))
		}
		return nil
	})
	return dirs
}

// setVersion makes every requirement on a published module name version,
// and go.work replace each of those modules at version by its directory,
// then writes the files it changed and returns their names.
func (ws *workspace) setVersion(version string) ([]string, error) {
	if !semver.IsValid(version) || semver.Canonical(version) != version || semver.Build(version) != "" {
		return nil, fmt.Errorf("%s: not a canonical semantic version (want the form v0.3.0)", version)
	}
	var changed []string
	write := func(name string, old, data []byte) error {
		if bytes.Equal(old, data) {
			return nil
		}
		rel, _ := filepath.Rel(ws.root, name)
		changed = append(changed, filepath.ToSlash(rel))
		return os.WriteFile(name, data, 0o644)
	}
	required := map[string]bool{}
	for _, m := range ws.modules {
		var paths []string
		for _, r := range m.file.Require {
			if ws.publishedPath(r.Mod.Path) != nil {
				paths = append(paths, r.Mod.Path)
			}
		}
		for _, p := range paths {
			required[p] = true
			if err := m.file.AddRequire(p, version); err != nil {
				return changed, err
			}
		}
		m.file.Cleanup()
		name := filepath.Join(m.dir, "go.mod")
		old, err := os.ReadFile(name)
		if err != nil {
			return changed, err
		}
		data, err := m.file.Format()
		if err != nil {
			return changed, err
		}
		if err := write(name, old, data); err != nil {
			return changed, err
		}
	}
	for _, r := range slices.Clone(ws.work.Replace) {
		if ws.publishedPath(r.Old.Path) != nil {
			if err := ws.work.DropReplace(r.Old.Path, r.Old.Version); err != nil {
				return changed, err
			}
		}
	}
	for _, m := range ws.published() {
		if required[m.path] {
			if err := ws.work.AddReplace(m.path, version, "./"+strings.TrimPrefix(m.rel, "."), ""); err != nil {
				return changed, err
			}
		}
	}
	ws.work.Cleanup()
	name := filepath.Join(ws.root, "go.work")
	old, err := os.ReadFile(name)
	if err != nil {
		return changed, err
	}
	return changed, write(name, old, modfile.Format(ws.work.Syntax))
}

// tagged returns the tags of the published modules at version that the
// repository already has. Outside git, or without git, it returns none.
func (ws *workspace) tagged(version string) []string {
	if _, err := exec.LookPath("git"); err != nil {
		return nil
	}
	args := []string{"-C", ws.root, "tag", "--list"}
	for _, m := range ws.published() {
		args = append(args, m.tagPrefix()+version)
	}
	out, err := exec.Command("git", args...).Output()
	if err != nil {
		return nil
	}
	return strings.Fields(string(out))
}
