// Package examples_test tries every documented way of running an example.
package examples_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway/examples/internal/fanout/fanouttest"
)

// The repository root, from this package's directory.
const root = ".."

// example says how to start one example on a free loopback port and how to
// see that it answers.
type example struct {
	addrFlags []string // the flags that take a listen address, one per URL it prints
	probe     func(t *testing.T, urls []string, printed string)
}

var examples = map[string]example{
	"demo":            {[]string{"-addr"}, wantPage},
	"cluster":         {[]string{"-addr1", "-addr2"}, wantPage},
	"basic":           {[]string{"-addr"}, wantEngage(validProfile, 200, `"status":"OK"`)},
	"custom-notifier": {[]string{"-addr"}, wantEngage(validProfile, 200, `"status":"OK"`)},
	// The relay checks at the edge, so an invalid engage is answered
	// without asking the upstream.
	"relay": {[]string{"-addr"}, wantEngage(`{"visitID":"v-1"}`, 400, `"code":"VALIDATION"`)},
}

// runLine matches a documented run line: `go run ./pkg args` in a doc
// comment or the README, `$(GO) run ./pkg $(ARGS)` in the Makefile. A
// trailing # comment, or the end of a `code span`, is not part of it.
var runLine = regexp.MustCompile(`(?:\bgo|\$\(GO\)) run (\./[^\s` + "`" + `]+)([^#\n` + "`" + `]*)`)

// line is one documented run line.
type line struct {
	file string   // where it is written
	args []string // the arguments after the package
}

// runLines returns the run lines of the README, the Makefile and every
// example's doc comment, by package.
func runLines(t *testing.T) map[string][]line {
	t.Helper()
	files := []string{"README.md", "Makefile"}
	mains, err := filepath.Glob(filepath.Join(root, "examples", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mains {
		rel, _ := filepath.Rel(root, m)
		files = append(files, filepath.ToSlash(rel))
	}
	lines := map[string][]line{}
	for _, f := range files {
		text, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range runLine.FindAllStringSubmatch(string(text), -1) {
			pkg, args := m[1], strings.Fields(strings.ReplaceAll(m[2], "$(ARGS)", ""))
			if _, err := os.Stat(filepath.Join(root, pkg)); err != nil {
				t.Errorf("%s: %q does not run from the repository root: write go run ./examples/…", f, strings.TrimSpace(m[0]))
				continue
			}
			if !strings.HasPrefix(pkg, "./examples/") {
				continue // a command of the root module, such as engagectl
			}
			if slices.ContainsFunc(args, func(a string) bool { return strings.ContainsAny(a, `'"\`) }) {
				t.Errorf("%s: %q: this test does not split quoted arguments", f, strings.TrimSpace(m[0]))
				continue
			}
			lines[pkg] = append(lines[pkg], line{f, args})
		}
	}
	for _, m := range mains {
		pkg := "./examples/" + filepath.Base(filepath.Dir(m))
		if len(lines[pkg]) == 0 {
			t.Errorf("%s has no run line in its doc comment", pkg)
		}
	}
	return lines
}

// TestRunLines runs every documented run line as written, from the
// repository root: it builds the packages the lines name from there, as go
// run does, and starts each line's program with its arguments, a free
// loopback port appended for each listen address (the last flag wins) and,
// for -nats and -redis, a server of the test's own. The program prints its URL
// only once it listens, answers a request there, and stops on Ctrl-C with
// no warning or error. Each example is also started on a port that is
// taken: it reports the bind error alone, with no URL, and exits non-zero.
func TestRunLines(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("a test cannot send Ctrl-C to a program on Windows")
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("the run lines need the repository's go.work (use . ./natsfanout ./examples): %v", err)
	}
	lines := runLines(t)
	if t.Failed() {
		t.FailNow()
	}
	bin := t.TempDir()
	pkgs := slices.Sorted(maps.Keys(lines))
	build := exec.Command("go", append([]string{"build", "-o", bin + string(filepath.Separator)}, pkgs...)...)
	build.Dir = root
	// The lines run in the workspace the root's go.work makes.
	build.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOWORK=") })
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s from the repository root: %v\n%s", strings.Join(pkgs, " "), err, out)
	}

	for _, pkg := range pkgs {
		name := filepath.Base(pkg)
		ex, ok := examples[name]
		if !ok {
			t.Errorf("%s: the test does not know how to probe it: add it to examples", pkg)
			continue
		}
		prog := filepath.Join(bin, name)
		for _, l := range lines[pkg] {
			t.Run(l.file+": go run "+strings.Join(append([]string{pkg}, l.args...), " "), func(t *testing.T) {
				args := slices.Clone(l.args)
				for _, f := range ex.addrFlags {
					args = append(args, f, "127.0.0.1:0")
				}
				if slices.Contains(args, "-nats") {
					args = append(args, "-nats", fanouttest.NATS(t))
				}
				if slices.Contains(args, "redis") { // -backend redis, with or without -redis
					fanouttest.NeedRedisServer(t)
				}
				if slices.Contains(args, "-redis") {
					args = append(args, "-redis", fanouttest.Redis(t))
				}
				p := start(t, prog, args...)
				urls := p.urls(t, len(ex.addrFlags))
				ex.probe(t, urls, p.out.String())
				p.interrupt(t)
				for _, out := range p.lines() {
					if strings.Contains(out, "level=WARN") || strings.Contains(out, "level=ERROR") {
						t.Errorf("logged %s", out)
					}
				}
			})
		}
		t.Run(name+" on a taken port", func(t *testing.T) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			args := slices.Clone(lines[pkg][0].args)
			for i, f := range ex.addrFlags {
				addr := "127.0.0.1:0"
				if i == len(ex.addrFlags)-1 { // the last, so that the others could have been up
					addr = taken.Addr().String()
				}
				args = append(args, f, addr)
			}
			p := start(t, prog, args...)
			err = p.wait(10 * time.Second)
			if err == nil {
				t.Errorf("exit status 0, want non-zero")
			}
			out := p.lines()
			if len(out) != 1 || !strings.Contains(out[0], "address already in use") || strings.Contains(out[0], "http://") {
				t.Errorf("output %q, want one line with the bind error and no URL", out)
			}
		})
	}
}

func wantPage(t *testing.T, urls []string, _ string) {
	t.Helper()
	for _, u := range urls {
		code, body := do(t, http.MethodGet, u+"/", nil, "", "")
		if code != 200 || !strings.Contains(body, "visitor.js") {
			t.Errorf("GET %s/: %d, want the shop page", u, code)
		}
	}
}

const validProfile = `{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}`

// printedCredentials matches the engage credentials an example prints at
// start when it generated the password (engageauth's Announce).
var printedCredentials = regexp.MustCompile(`\buser=(\S+) password=(\S+)`)

// wantEngage posts an engage of ixnProfile without credentials and wants
// 401, then with the credentials the program printed, as a person would
// copy them, and wants the given status and a body that holds want.
func wantEngage(ixnProfile string, status int, want string) func(*testing.T, []string, string) {
	return func(t *testing.T, urls []string, printed string) {
		t.Helper()
		u, form := urls[0]+"/server/data/gateway/engage", url.Values{"ixnProfile": {ixnProfile}}
		if code, body := do(t, http.MethodPost, u, form, "", ""); code != http.StatusUnauthorized {
			t.Errorf("engage without credentials: %d %s, want 401", code, body)
		}
		m := printedCredentials.FindStringSubmatch(printed)
		if m == nil {
			t.Fatalf("printed no engage credentials (user=… password=…)")
		}
		code, body := do(t, http.MethodPost, u, form, m[1], m[2])
		if code != status || !strings.Contains(body, want) {
			t.Errorf("engage: %d %s, want %d with %s", code, body, status, want)
		}
	}
}

// do sends a GET, or a POST of form when it is not nil, with the HTTP Basic
// credentials user and password unless user is empty.
func do(t *testing.T, method, u string, form url.Values, user, password string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequest(method, u, nil)
	if form != nil {
		req, err = http.NewRequest(method, u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// proc is a running example whose stdout and stderr are collected.
type proc struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan error
}

func start(t *testing.T, prog string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(prog, args...), done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s %s printed:\n%s", filepath.Base(prog), strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

var urlRE = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)

// urls waits for the program to print n distinct loopback URLs.
func (p *proc) urls(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		var urls []string
		for _, u := range urlRE.FindAllString(p.out.String(), -1) {
			if !slices.Contains(urls, u) && !strings.HasSuffix(u, ":0") {
				urls = append(urls, u)
			}
		}
		if len(urls) >= n {
			return urls[:n]
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("exited before printing %d URLs: %v", n, err)
		case <-deadline:
			t.Fatalf("printed %d of %d URLs within 30s", len(urls), n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// interrupt sends Ctrl-C and waits for the program to end.
func (p *proc) interrupt(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := p.wait(10 * time.Second)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == -1 && strings.Contains(ee.Error(), "interrupt") {
		err = nil // a program without a handler dies of the signal: stopped all the same
	}
	if err != nil {
		t.Errorf("after Ctrl-C: %v", err)
	}
}

// wait waits up to d for the program to end and returns how it ended.
func (p *proc) wait(d time.Duration) error {
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(d):
		return fmt.Errorf("still running after %v", d)
	}
}

func (p *proc) lines() []string {
	return strings.FieldsFunc(p.out.String(), func(r rune) bool { return r == '\n' })
}

// syncBuffer is a bytes.Buffer that the program's two output streams and
// the test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
