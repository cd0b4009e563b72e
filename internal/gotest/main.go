// Command gotest runs go test and prints what go test prints without -v (the
// line of each package, and everything a failed test or package printed),
// and, as well, every skipped test with the reason it gave, which go test
// hides. make test runs it, so that a skipped browser test shows.
//
//	go run ./internal/gotest [-C dir] [go test flags] [packages]
//
// It runs go test -json and reads its events; stderr passes through. Its
// exit status is go test's.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

func main() {
	args := os.Args[1:]
	var dir []string
	if len(args) >= 2 && args[0] == "-C" { // go's -C must come first
		dir, args = args[:2], args[2:]
	}
	cmd := exec.Command("go", append(append(append([]string{"test"}, dir...), "-json"), args...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gotest:", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	report(stdout, w)
	w.Flush()
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.ExitCode())
	case err != nil:
		fmt.Fprintln(os.Stderr, "gotest:", err)
		os.Exit(1)
	}
}

// event is one line of go test -json (see go doc test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// line is one line a test or package printed.
type line struct {
	test, text string
}

// report reads go test -json from r and writes to w, as each test and
// package ends: a failed test's output (less the === lines of -v), a
// skipped test's --- SKIP line and its reason, a package's last line (ok,
// FAIL, no test files) and, when it failed, all it printed. A line that is
// not an event is written as it is.
func report(r io.Reader, w io.Writer) {
	type group struct {
		lines  []line
		skips  map[string]bool // the tests of the group that skipped
		failed bool
	}
	groups := map[string]*group{} // by package and top-level test
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(w, sc.Text())
			continue
		}
		if e.Action == "build-output" {
			io.WriteString(w, e.Output)
			continue
		}
		top, _, _ := strings.Cut(e.Test, "/")
		key := e.Package + "\x00" + top
		g := groups[key]
		if g == nil {
			g = &group{skips: map[string]bool{}}
			groups[key] = g
		}
		switch e.Action {
		case "output":
			if !strings.HasPrefix(e.Output, "=== ") {
				g.lines = append(g.lines, line{e.Test, e.Output})
			}
			continue
		case "fail":
			g.failed = true
		case "skip":
			g.skips[e.Test] = true
		case "pass":
		default:
			continue // run, pause, cont, start, bench
		}
		if e.Test != top { // a subtest ended: its group goes on
			continue
		}
		delete(groups, key)
		switch {
		case g.failed:
			for _, l := range g.lines {
				io.WriteString(w, l.text)
			}
		case e.Test == "": // a package that passed, or has no tests
			if n := len(g.lines); n > 0 {
				io.WriteString(w, g.lines[n-1].text)
			}
		default:
			for _, l := range g.lines {
				if g.skips[l.test] {
					io.WriteString(w, l.text)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(w, "gotest:", err)
	}
}
