package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// publicPackages returns the import paths of the packages of m that another
// module may import: not internal, not a command, not test-only, not in
// testdata or a nested module. They are read from m's directory with the
// build constraints of this machine.
func publicPackages(m *wsModule) ([]string, error) {
	var pkgs []string
	err := filepath.WalkDir(m.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != m.dir {
			n := d.Name()
			if strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || n == "testdata" || n == "vendor" || n == "internal" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // a module of its own
			}
		}
		bp, err := build.ImportDir(p, 0)
		if err != nil {
			if _, ok := errors.AsType[*build.NoGoError](err); ok {
				return nil
			}
			return err
		}
		if bp.Name == "main" || len(bp.GoFiles)+len(bp.CgoFiles) == 0 {
			return nil // a command, or tests only
		}
		rel, err := filepath.Rel(m.dir, p)
		if err != nil {
			return err
		}
		pkgs = append(pkgs, path.Join(m.path, filepath.ToSlash(rel)))
		return nil
	})
	slices.Sort(pkgs)
	return pkgs, err
}

// goCmd runs go commands with a fixed environment.
type goCmd struct {
	env []string
}

// run runs `go args…` in dir and returns its combined output; the error
// carries the command and that output.
func (g goCmd) run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = g.env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, indent(out.String()))
	}
	return out.Bytes(), nil
}

// consumerEnv returns the environment for the go commands of a module
// outside the repository: no workspace, a module cache of its own (so that
// a version built from the working tree never lands in the user's cache),
// modules from proxy (a GOPROXY list), and our own modules exempt from the
// checksum database only when they come from a proxy made here.
func consumerEnv(base []string, proxy, modcache, ownPath string, ownUnpublished bool) []string {
	env := slices.DeleteFunc(slices.Clone(base), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains([]string{"GOWORK", "GOPROXY", "GOMODCACHE", "GOFLAGS", "GONOSUMDB", "GONOPROXY", "GOPRIVATE"}, k)
	})
	flags := strings.TrimSpace(lookup(base, "GOFLAGS") + " -mod=mod -modcacherw")
	env = append(env,
		"GOWORK=off",
		"GOPROXY="+proxy,
		"GOMODCACHE="+modcache,
		"GOFLAGS="+flags,
		"GOPRIVATE=",
		"GONOPROXY=",
	)
	if ownUnpublished {
		nosum := ownPath
		if v := lookup(base, "GONOSUMDB"); v != "" {
			nosum = v + "," + ownPath
		}
		env = append(env, "GONOSUMDB="+nosum)
	}
	return env
}

// lookup returns the value of key in env, the last one if it is set twice.
func lookup(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// consume creates a module in dir that `go get`s each of mods at version,
// in that order, then builds a program that imports every package of pkgs.
// Every module of ours in the consumer's build list must then be at
// version: a higher requirement somewhere would mean users get something
// other than the tags. sums, if not nil, starts the consumer's go.sum.
func consume(ctx context.Context, g goCmd, dir string, mods []*wsModule, version string, pkgs []string, own func(string) bool, sums []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := g.run(ctx, dir, "mod", "init", "example.com/releasecheck/consumer"); err != nil {
		return err
	}
	if sums != nil {
		if err := os.WriteFile(filepath.Join(dir, "go.sum"), sums, 0o644); err != nil {
			return err
		}
	}
	for _, m := range mods {
		if _, err := g.run(ctx, dir, "get", m.path+"@"+version); err != nil {
			return err
		}
	}
	var src strings.Builder
	src.WriteString("// Command consumer imports every public package of the modules under release.\npackage main\n\nimport (\n")
	for _, p := range pkgs {
		fmt.Fprintf(&src, "\t_ %q\n", p)
	}
	src.WriteString(")\n\nfunc main() {}\n")
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src.String()), 0o644); err != nil {
		return err
	}
	// -trimpath keeps the build cache's keys free of the module cache's
	// location, which is new on every run: without it, every run would
	// compile every dependency again.
	if _, err := g.run(ctx, dir, "build", "-trimpath", "-o", os.DevNull, "."); err != nil {
		return err
	}
	out, err := g.run(ctx, dir, "list", "-m", "-f", "{{.Path}} {{.Version}}", "all")
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(out)) {
		p, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		if v != "" && own(p) && v != version {
			return fmt.Errorf("the consumer's build list has %s %s, want %s", p, v, version)
		}
	}
	return nil
}

// goSums returns the lines of the go.sum files of mods, without those of
// our own modules (own), sorted and without duplicates. They were checked
// against the checksum database when they were added; starting a
// consumer's go.sum with them spares it that database's round trips, and
// a module they do not cover is still looked up there.
func goSums(mods []*wsModule, own func(string) bool) ([]byte, error) {
	var lines []string
	for _, m := range mods {
		data, err := os.ReadFile(filepath.Join(m.dir, "go.sum"))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for line := range strings.Lines(string(data)) {
			if p, _, _ := strings.Cut(line, " "); !own(p) && strings.TrimSpace(line) != "" {
				lines = append(lines, strings.TrimRight(line, "\n")+"\n")
			}
		}
	}
	slices.Sort(lines)
	return []byte(strings.Join(slices.Compact(lines), "")), nil
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "\t" + strings.ReplaceAll(s, "\n", "\n\t")
}
