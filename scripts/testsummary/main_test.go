package main

import (
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	var out strings.Builder
	s := newSummary(&out)
	for _, e := range []event{
		{Action: "output", Package: "p", Test: "TestA", Output: "=== RUN   TestA\n"},
		{Action: "output", Package: "p", Test: "TestA", Output: "noise of a passing test\n"},
		{Action: "pass", Package: "p", Test: "TestA"},
		{Action: "output", Package: "p", Test: "TestB", Output: "    b_test.go:9: boom\n"},
		{Action: "fail", Package: "p", Test: "TestB"},
		{Action: "output", Package: "p", Test: "TestC", Output: "    c_test.go:3: SKIPPING: Redis is unavailable\n"},
		{Action: "output", Package: "p", Test: "TestC", Output: "--- SKIP: TestC (0.00s)\n"},
		{Action: "skip", Package: "p", Test: "TestC"},
		{Action: "fail", Package: "p", Elapsed: 1.5},
		{Action: "build-output", ImportPath: "b [b.test]", Output: "b_test.go:3:2: undefined: x\n"},
		{Action: "build-fail", ImportPath: "b [b.test]"},
		{Action: "output", Package: "q", Output: "*** SKIPPING all tests of this package ***\n"},
		{Action: "pass", Package: "q", Elapsed: 0.1},
		// The same package again, as in the -race run and the plain one.
		{Action: "pass", Package: "r", Test: "TestR"},
		{Action: "pass", Package: "r", Elapsed: 0.2},
		{Action: "pass", Package: "r", Test: "TestR"},
		{Action: "pass", Package: "r", Elapsed: 0.3},
	} {
		s.add(e)
	}
	s.close()
	got := out.String()
	for _, want := range []string{"b_test.go:9: boom", "FAIL\tp\t1.5s", "ok\tq\t0.1s\t(no test ran)",
		"p TestC: c_test.go:3: SKIPPING: Redis is unavailable", "Failed packages: p b [b.test] (build)", "b_test.go:3:2: undefined: x", "ok\tr\t0.3s\t1 tests", "\n3 passed, 1 failed, 1 skipped\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "noise of a passing test") {
		t.Errorf("a passing test's output was printed:\n%s", got)
	}
	if s.ok() {
		t.Error("a run with a failure is ok")
	}
}
