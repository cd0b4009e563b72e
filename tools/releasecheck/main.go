// Command releasecheck checks, before the tags of a release are pushed,
// that a module outside this repository can fetch every published module
// with a plain go get and build every public package of it. RELEASING.md
// says when to run it.
//
// Usage, from anywhere in the repository:
//
//	go run ./tools/releasecheck [-version v] [-keep]
//	go run ./tools/releasecheck -tidy
//	go run ./tools/releasecheck -published
//	go run ./tools/releasecheck -set-version v0.3.0
//
// The published modules are those go.work uses, except the ones under
// examples/ and tools/, so a module added to go.work is checked without
// further edits. The release version is the one at which the workspace's
// modules require the published ones (they must agree), or -version.
// releasecheck then
//
//  1. reads every go.mod and go.work: every go.mod of the repository is in
//     go.work; no go.mod has a replace directive (Go ignores those of a
//     dependency); every requirement on a module of ours names a published
//     one at the release version; a published module in dir D is named
//     <root module path>/D, so that its tag D/<version> names it; go.work
//     replaces only published modules, at the release version, by their
//     own directories;
//  2. writes a throwaway file-system module proxy serving every published
//     module at the release version, zipped (golang.org/x/mod/zip) from
//     the working tree: what git tracks or would track, outside git the
//     whole directory;
//  3. for each published module alone, then for all of them together,
//     creates a module in a temporary directory outside the repository,
//     runs go get module@version there, builds a program that imports
//     every public package (not internal, not main, not test-only) of what
//     it got, and checks that the build list holds every module of ours at
//     the release version. Those go commands run with GOWORK=off,
//     GOFLAGS=-mod=mod, a module cache of their own,
//     GOPROXY=file://<the proxy>,file://<the module cache's download
//     directory>,<GOPROXY>, and GONOSUMDB=<the root module path>: our
//     modules come from the proxy made here, which the checksum database
//     cannot know. The consumer's go.sum starts with the lines of the
//     published modules' go.sum files, checked when they were added; any
//     other module is looked up in the checksum database as usual. Builds
//     use -trimpath, so the build cache serves what did not change.
//
// It prints what it did with timings and exits 0, or prints every problem
// it found and exits 1 (2 for a usage error).
//
// With -tidy it runs go mod tidy in every module of the workspace against
// the same proxy, since go mod tidy ignores go.work and cannot fetch a
// version that is not tagged yet, then removes the lines of our own modules
// from each go.sum: their hashes are those of the working tree, not of the
// tags, and the workspace does not need them.
//
// With -set-version v, it makes every requirement on a published module
// name v, and go.work replace those modules at v by their directories:
// the first step of a release cycle.
//
// In its normal mode it also fails when a published module is already
// tagged at the release version, since a pushed tag is never moved.
//
// With -published, after the tags are pushed, it skips steps 1 and 2 and
// runs step 3 against GOPROXY and the checksum database as they are set,
// from an empty module cache.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	log := os.Stdout
	fs := flag.NewFlagSet("releasecheck", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	var cfg config
	fs.StringVar(&cfg.root, "C", "", "the repository root, which holds go.work (default: the workspace of the current directory)")
	fs.StringVar(&cfg.version, "version", "", "the release version (default: the version at which the modules require the published ones)")
	fs.StringVar(&cfg.upstream, "upstream", "", "the GOPROXY list to consult after the proxy made here (default: go env GOPROXY)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (proxy, module cache, consumers) and print its path")
	tidyMode := fs.Bool("tidy", false, "run go mod tidy in every module against the proxy made here, then drop our modules' go.sum lines")
	setVersion := fs.String("set-version", "", "make every requirement on a published module, and go.work's replaces, name this version")
	fs.BoolVar(&cfg.published, "published", false, "check the pushed tags through GOPROXY and the checksum database, without a proxy of its own")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: releasecheck [-C dir] [-version v] [-upstream proxies] [-keep] [-tidy | -published | -set-version v]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	modes := 0
	for _, on := range []bool{*tidyMode, cfg.published, *setVersion != ""} {
		if on {
			modes++
		}
	}
	if fs.NArg() > 0 || modes > 1 {
		fs.Usage()
		os.Exit(2)
	}
	cfg.env = os.Environ()
	cfg.log = log
	ctx := context.Background()
	run := check
	switch {
	case *tidyMode:
		run = tidy
	case *setVersion != "":
		cfg.version = *setVersion
		run = bump
	}
	if err := run(ctx, &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "releasecheck: FAIL\n%v\n", err)
		os.Exit(1)
	}
}

// config is what one run needs.
type config struct {
	root      string // directory holding go.work; "" finds it from the current directory
	version   string // "" derives it from the requirements
	upstream  string // GOPROXY list after the proxy made here; "" asks go env
	published bool   // check the pushed tags instead of a proxy made here
	keep      bool
	log       io.Writer
	env       []string // the environment of the go commands, before our changes
}

func (c *config) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "releasecheck: "+format+"\n", args...)
}

// prepare fills in the defaults of c and loads the workspace.
func (c *config) prepare(ctx context.Context) (*workspace, error) {
	if c.root == "" {
		out, err := goEnv(ctx, c.env, "", "GOWORK")
		if err != nil {
			return nil, err
		}
		if out == "" || out == "off" {
			return nil, errors.New("no go.work here: run inside the repository, or give -C")
		}
		c.root = filepath.Dir(out)
	}
	if c.upstream == "" {
		out, err := goEnv(ctx, c.env, c.root, "GOPROXY")
		if err != nil {
			return nil, err
		}
		c.upstream = out
	}
	ws, err := loadWorkspace(c.root)
	if err != nil {
		return nil, err
	}
	if c.version == "" {
		if c.version, err = ws.releaseVersion(); err != nil {
			return nil, err
		}
	}
	return ws, nil
}

// goEnv returns `go env key` run in dir.
func goEnv(ctx context.Context, env []string, dir, key string) (string, error) {
	out, err := goCmd{env: env}.run(ctx, dir, "env", key)
	return strings.TrimSpace(string(out)), err
}

// check runs the release check of the package doc and returns every
// problem it found.
func check(ctx context.Context, c *config) error {
	start := time.Now()
	ws, err := c.prepare(ctx)
	if err != nil {
		return err
	}
	pub := ws.published()
	var names []string
	for _, m := range pub {
		names = append(names, m.tagPrefix()+c.version)
	}
	c.logf("%s: publishing %s", ws.root, strings.Join(names, ", "))

	var errs []error
	if !c.published { // the tags are what they are: only the working tree can still change
		if problems := ws.lint(c.version); len(problems) > 0 {
			errs = append(errs, fmt.Errorf("go.mod and go.work:\n\t%s", strings.Join(problems, "\n\t")))
		} else {
			c.logf("go.mod and go.work: ok")
		}
		if tags := ws.tagged(c.version); len(tags) > 0 {
			errs = append(errs, fmt.Errorf("already tagged: %s; a pushed tag is never moved, so start the next version: go run ./tools/releasecheck -set-version <next>",
				strings.Join(tags, ", ")))
		}
	}

	tmp, err := c.tempDir(ws)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if !c.keep {
		defer os.RemoveAll(tmp)
	}

	proxy := c.upstream
	if !c.published {
		t := time.Now()
		dir := filepath.Join(tmp, "proxy")
		if err := buildProxy(dir, pub, c.version, time.Now()); err != nil {
			return errors.Join(append(errs, fmt.Errorf("building the module proxy: %w", err))...)
		}
		proxy = c.proxyList(ctx, dir)
		c.logf("module proxy with %d modules written in %s", len(pub), since(t))
	}
	g := goCmd{env: consumerEnv(c.env, proxy, filepath.Join(tmp, "modcache"), ws.rootModule().path, !c.published)}
	var sums []byte // a user's first go get consults the checksum database: so does -published
	if !c.published {
		if sums, err = goSums(pub, ws.ownPath); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}

	// Each module alone, as a user who imports only it; then all together.
	runs := make([][]*wsModule, 0, len(pub)+1)
	for _, m := range pub {
		runs = append(runs, []*wsModule{m})
	}
	if len(pub) > 1 {
		runs = append(runs, pub)
	}
	for i, mods := range runs {
		t := time.Now()
		var pkgs []string
		for _, m := range mods {
			p, err := publicPackages(m)
			if err != nil {
				return errors.Join(append(errs, err)...)
			}
			pkgs = append(pkgs, p...)
		}
		label := mods[0].path
		if len(mods) > 1 {
			label = "all published modules"
		}
		dir := filepath.Join(tmp, fmt.Sprintf("consumer%d", i))
		if err := consume(ctx, g, dir, mods, c.version, pkgs, ws.ownPath, sums); err != nil {
			errs = append(errs, fmt.Errorf("a module outside the repository using %s:\n%w", label, err))
			continue
		}
		c.logf("%s: go get, then a build importing %s, in %s", label, strings.Join(pkgs, " "), since(t))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.logf("ok in %s", since(start))
	return nil
}

// tidy runs go mod tidy in every module of the workspace against a proxy
// made from the working tree, then drops our own modules' go.sum lines.
func tidy(ctx context.Context, c *config) error {
	ws, err := c.prepare(ctx)
	if err != nil {
		return err
	}
	tmp, err := c.tempDir(ws)
	if err != nil {
		return err
	}
	if !c.keep {
		defer os.RemoveAll(tmp)
	}
	dir := filepath.Join(tmp, "proxy")
	if err := buildProxy(dir, ws.published(), c.version, time.Now()); err != nil {
		return fmt.Errorf("building the module proxy: %w", err)
	}
	proxy := c.proxyList(ctx, dir)
	g := goCmd{env: consumerEnv(c.env, proxy, filepath.Join(tmp, "modcache"), ws.rootModule().path, true)}
	for _, m := range ws.modules {
		if _, err := g.run(ctx, m.dir, "mod", "tidy"); err != nil {
			return fmt.Errorf("%s: %w", m.rel, err)
		}
		if err := dropSums(filepath.Join(m.dir, "go.sum"), ws.ownPath); err != nil {
			return err
		}
		c.logf("%s: tidy", m.rel)
	}
	return nil
}

// bump makes the workspace's modules require the published ones at
// c.version, and go.work replace them at that version, then checks the
// files as the release check does.
func bump(ctx context.Context, c *config) error {
	ws, err := c.prepare(ctx)
	if err != nil {
		return err
	}
	changed, err := ws.setVersion(c.version)
	for _, name := range changed {
		c.logf("%s: now %s", name, c.version)
	}
	if err != nil {
		return err
	}
	if ws, err = loadWorkspace(ws.root); err != nil {
		return err
	}
	if problems := ws.lint(c.version); len(problems) > 0 {
		return fmt.Errorf("go.mod and go.work:\n\t%s", strings.Join(problems, "\n\t"))
	}
	c.logf("go.mod and go.work: every module of ours is required at %s", c.version)
	return nil
}

// dropSums removes from the go.sum file name the lines of modules for
// which own is true. A missing file is fine.
func dropSums(name string, own func(string) bool) error {
	data, err := os.ReadFile(name)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var kept strings.Builder
	for line := range strings.Lines(string(data)) {
		if p, _, _ := strings.Cut(line, " "); own(p) {
			continue
		}
		kept.WriteString(line)
	}
	return os.WriteFile(name, []byte(kept.String()), 0o644)
}

// tempDir makes the run's temporary directory, which must lie outside the
// repository: inside it, the go command would find go.work or a go.mod of
// ours and the consumer would not be outside.
func (c *config) tempDir(ws *workspace) (string, error) {
	tmp, err := os.MkdirTemp("", "releasecheck-")
	if err != nil {
		return "", err
	}
	if rel, err := filepath.Rel(ws.root, tmp); err == nil && !strings.HasPrefix(rel, "..") {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("the temporary directory %s is inside the repository: set TMPDIR elsewhere", tmp)
	}
	if c.keep {
		c.logf("temporary directory kept: %s", tmp)
	}
	return tmp, nil
}

// proxyList returns the GOPROXY list of a run: the proxy made here in dir,
// then the module cache's download directory, then the upstream list. The
// module cache is laid out as a proxy and holds only what was verified when
// it was downloaded; it spares a fetch of every dependency on every run.
// With the "," separator, the go command moves on to the next entry only
// when one answers "not found".
func (c *config) proxyList(ctx context.Context, dir string) string {
	list := []string{fileURL(dir)}
	if cache, err := goEnv(ctx, c.env, c.root, "GOMODCACHE"); err == nil && cache != "" {
		list = append(list, fileURL(filepath.Join(cache, "cache", "download")))
	}
	return strings.Join(append(list, c.upstream), ",")
}

func fileURL(dir string) string {
	return "file://" + filepath.ToSlash(dir)
}

func since(t time.Time) string {
	return time.Since(t).Round(10 * time.Millisecond).String()
}
