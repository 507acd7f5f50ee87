// Command testsummary reads `go test -json` on stdin and prints what a person needs of it: one
// line per package, the output of every test that failed or was skipped, the skipped tests
// with their reasons, and a closing line "N passed, N failed, N skipped". It exits 1 if any
// test or package failed. scripts/test.sh pipes every go test run through it, so a run that
// skipped tests, or ran none in a package, says so instead of reporting a quiet "ok".
//
// gotestsum does this and more, but it is not served by the module proxy this project builds
// with; test2json's event format is small and stable (go doc test2json).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of test2json output.
type event struct {
	Action     string
	Package    string
	ImportPath string // of build-output and build-fail events
	Test       string
	Output     string
	Elapsed    float64
}

type summary struct {
	out                     io.Writer
	passed, failed, skipped int
	outputs                 map[string][]string // by package and test, until the test ends
	tests                   map[string]int      // tests that ended, by package
	skips                   []string            // "pkg TestX: reason"
	failedPkgs              []string
}

func newSummary(out io.Writer) *summary {
	return &summary{out: out, outputs: map[string][]string{}, tests: map[string]int{}}
}

func (s *summary) add(e event) {
	key := e.Package + " " + e.Test
	switch e.Action {
	case "output":
		s.outputs[key] = append(s.outputs[key], e.Output)
		return
	case "build-output": // compiler errors, as they come
		fmt.Fprint(s.out, e.Output)
		return
	case "build-fail":
		s.failedPkgs = append(s.failedPkgs, e.ImportPath+" (build)")
		return
	case "pass", "fail", "skip":
	default:
		return
	}
	out := s.outputs[key]
	delete(s.outputs, key)
	if e.Test == "" { // the package as a whole; a later run of it counts anew
		defer delete(s.tests, e.Package)
		switch {
		case e.Action == "fail":
			s.failedPkgs = append(s.failedPkgs, e.Package)
			s.write(out)
			fmt.Fprintf(s.out, "FAIL\t%s\t%.1fs\n", e.Package, e.Elapsed)
		case e.Action == "pass" && s.tests[e.Package] == 0:
			fmt.Fprintf(s.out, "ok\t%s\t%.1fs\t(no test ran)\n", e.Package, e.Elapsed)
		case e.Action == "pass":
			fmt.Fprintf(s.out, "ok\t%s\t%.1fs\t%d tests\n", e.Package, e.Elapsed, s.tests[e.Package])
		}
		return
	}
	s.tests[e.Package]++
	switch e.Action {
	case "pass":
		s.passed++
	case "fail":
		s.failed++
		s.write(out)
	case "skip":
		s.skipped++
		s.write(out)
		s.skips = append(s.skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, skipReason(out)))
	}
}

func (s *summary) write(lines []string) {
	for _, l := range lines {
		fmt.Fprint(s.out, l)
	}
}

// skipReason is the line of a skipped test's output that says why.
func skipReason(out []string) string {
	for i := len(out) - 1; i >= 0; i-- {
		l := strings.TrimSpace(out[i])
		if l != "" && !strings.HasPrefix(l, "--- SKIP") && !strings.HasPrefix(l, "=== ") {
			return l
		}
	}
	return "(no reason given)"
}

func (s *summary) close() {
	// Output of tests that never ended: the binary died under them.
	var left []string
	for k := range s.outputs {
		left = append(left, k)
	}
	sort.Strings(left)
	for _, k := range left {
		if _, test, _ := strings.Cut(k, " "); test != "" {
			fmt.Fprintf(s.out, "--- %s did not finish:\n", k)
			s.write(s.outputs[k])
		}
	}
	if len(s.skips) > 0 {
		fmt.Fprintf(s.out, "\nSkipped:\n")
		for _, sk := range s.skips {
			fmt.Fprintf(s.out, "  %s\n", sk)
		}
	}
	if len(s.failedPkgs) > 0 {
		fmt.Fprintf(s.out, "\nFailed packages: %s\n", strings.Join(s.failedPkgs, " "))
	}
	fmt.Fprintf(s.out, "\n%d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
}

func (s *summary) ok() bool { return s.failed == 0 && len(s.failedPkgs) == 0 }

func main() {
	s := newSummary(os.Stdout)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Println(sc.Text()) // go test's own messages, such as build errors
			continue
		}
		s.add(e)
	}
	s.close()
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	if !s.ok() {
		os.Exit(1)
	}
}
