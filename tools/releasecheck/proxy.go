package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

// buildProxy writes into dir a module proxy tree (the layout GOPROXY=file://
// reads, as `go help goproxy` describes it) that serves every module of mods
// at version, made from the working tree: @v/list, @v/<version>.info,
// .mod and .zip.
func buildProxy(dir string, mods []*wsModule, version string, now time.Time) error {
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, now.UTC().Truncate(time.Second)})
	if err != nil {
		return err
	}
	for _, m := range mods {
		escaped, err := module.EscapePath(m.path)
		if err != nil {
			return err
		}
		vdir := filepath.Join(dir, filepath.FromSlash(escaped), "@v")
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			return err
		}
		gomod, err := os.ReadFile(filepath.Join(m.dir, "go.mod"))
		if err != nil {
			return err
		}
		base := filepath.Join(vdir, version)
		if err := os.WriteFile(filepath.Join(vdir, "list"), []byte(version+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(base+".info", info, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(base+".mod", gomod, 0o644); err != nil {
			return err
		}
		if err := writeZip(base+".zip", module.Version{Path: m.path, Version: version}, m.dir); err != nil {
			return fmt.Errorf("%s: %w", m.rel, err)
		}
	}
	return nil
}

// writeZip writes the module zip of the module in dir. In a git work tree
// it holds what a tag of the current tree would hold: tracked files and new
// files git does not ignore, so a stray build output or scratch file cannot
// change the result. Outside git it holds the directory, as
// [zip.CreateFromDir] reads it. Either way, nested modules, vendored
// packages and irregular files are left out, as the go command does.
func writeZip(name string, mv module.Version, dir string) (err error) {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	files, err := gitFiles(dir)
	if err != nil {
		return err
	}
	if files == nil {
		return zip.CreateFromDir(f, mv, dir)
	}
	return zip.Create(f, mv, files)
}

// gitFiles lists the files of dir that git tracks or would track, or
// returns nil, nil when dir is not in a git work tree.
func gitFiles(dir string) ([]zip.File, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, nil
	}
	inside, err := exec.Command("git", "-C", dir, "rev-parse", "--is-inside-work-tree").Output()
	if err != nil || strings.TrimSpace(string(inside)) != "true" {
		return nil, nil
	}
	var stderr bytes.Buffer
	cmd := exec.Command("git", "-C", dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s: %v: %s", dir, err, stderr.Bytes())
	}
	files := []zip.File{}
	for p := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		if p == "" {
			continue
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		info, err := os.Lstat(full)
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the work tree, so not in the next commit either
			}
			return nil, err
		}
		files = append(files, diskFile{slashPath: p, path: full, info: info})
	}
	return files, nil
}

// A diskFile is a [zip.File] read from disk.
type diskFile struct {
	slashPath string
	path      string
	info      fs.FileInfo
}

func (f diskFile) Path() string                 { return f.slashPath }
func (f diskFile) Lstat() (fs.FileInfo, error)  { return f.info, nil }
func (f diskFile) Open() (io.ReadCloser, error) { return os.Open(f.path) }
