package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// out is an output event of test in package x ("" for the package).
func out(test, text string) string {
	return `{"Action":"output","Package":"x","Test":"` + test + `","Output":"` + strings.ReplaceAll(text, "\t", `\t`) + `\n"}`
}

// end is the event that ends test with action.
func end(test, action string) string {
	return `{"Action":"` + action + `","Package":"x","Test":"` + test + `"}`
}

func TestReport(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		events []string
		want   string
	}{
		{
			name: "a passing package prints its ok line only",
			events: []string{`{"Action":"start","Package":"x"}`,
				`{"Action":"run","Package":"x","Test":"TestB"}`, out("TestB", "=== RUN   TestB"), out("TestB", "    y_test.go:3: quiet log"),
				out("TestB", "--- PASS: TestB (0.00s)"), end("TestB", "pass"),
				out("", "PASS"), out("", "ok  \tx\t0.004s"), end("", "pass")},
			want: "ok  \tx\t0.004s\n",
		},
		{
			name: "a skipped test prints its reason",
			events: []string{out("TestA", "=== RUN   TestA"), out("TestA", "    e2e_test.go:47: no Chromium on the PATH"),
				out("TestA", "--- SKIP: TestA (0.00s)"), end("TestA", "skip"),
				out("", "PASS"), out("", "ok  \tx\t0.004s"), end("", "pass")},
			want: "    e2e_test.go:47: no Chromium on the PATH\n--- SKIP: TestA (0.00s)\nok  \tx\t0.004s\n",
		},
		{
			name: "a skipped subtest prints its reason and not its passing siblings",
			events: []string{out("TestC", "=== RUN   TestC"),
				out("TestC/one", "=== RUN   TestC/one"), out("TestC/one", "    y_test.go:4: sub reason"), out("TestC/one", "--- SKIP: TestC/one (0.00s)"), end("TestC/one", "skip"),
				out("TestC/two", "=== RUN   TestC/two"), out("TestC/two", "    y_test.go:5: a log"), out("TestC/two", "--- PASS: TestC/two (0.00s)"), end("TestC/two", "pass"),
				out("TestC", "--- PASS: TestC (0.00s)"), end("TestC", "pass"),
				out("", "ok  \tx\t0.004s"), end("", "pass")},
			want: "    y_test.go:4: sub reason\n--- SKIP: TestC/one (0.00s)\nok  \tx\t0.004s\n",
		},
		{
			name: "a failed test prints all it printed but the === lines",
			events: []string{out("TestD", "=== RUN   TestD"), out("TestD", "    z_test.go:3: before"),
				out("TestD/s", "=== RUN   TestD/s"), out("TestD/s", "    z_test.go:3: sub boom"), out("TestD/s", "--- FAIL: TestD/s (0.00s)"), end("TestD/s", "fail"),
				out("TestD", "    z_test.go:3: top boom"), out("TestD", "--- FAIL: TestD (0.00s)"), end("TestD", "fail"),
				out("", "FAIL"), out("", "FAIL\tx\t0.008s"), end("", "fail")},
			want: "    z_test.go:3: before\n    z_test.go:3: sub boom\n--- FAIL: TestD/s (0.00s)\n" +
				"    z_test.go:3: top boom\n--- FAIL: TestD (0.00s)\nFAIL\nFAIL\tx\t0.008s\n",
		},
		{
			name:   "a package without tests prints its line",
			events: []string{out("", "?   \tx\t[no test files]"), end("", "skip")},
			want:   "?   \tx\t[no test files]\n",
		},
		{
			name: "a package that fails after its tests prints all it printed",
			events: []string{out("TestB", "--- PASS: TestB (0.00s)"), end("TestB", "pass"),
				out("", "goroutines left after the tests"), out("", "FAIL\tx\t0.004s"), end("", "fail")},
			want: "goroutines left after the tests\nFAIL\tx\t0.004s\n",
		},
		{
			name: "build errors and lines that are not events pass through",
			events: []string{`{"ImportPath":"x [x.test]","Action":"build-output","Output":"./b.go:2:14: syntax error\n"}`,
				"go: something went wrong"},
			want: "./b.go:2:14: syntax error\ngo: something went wrong\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got strings.Builder
			report(strings.NewReader(strings.Join(tc.events, "\n")+"\n"), &got)
			if diff := cmp.Diff(tc.want, got.String()); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}
