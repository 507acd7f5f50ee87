package testenv

import (
	"fmt"
	"testing"
)

// verdict records what Require did with a test.
type verdict struct {
	testing.TB
	fatal, skip string
}

func (v *verdict) Helper()                        {}
func (v *verdict) Fatalf(format string, a ...any) { v.fatal = fmt.Sprintf(format, a...) }
func (v *verdict) Skipf(format string, a ...any)  { v.skip = fmt.Sprintf(format, a...) }

func TestRequireFailsUnlessToldToSkip(t *testing.T) {
	missing := fmt.Errorf("connection refused")
	for _, tc := range []struct {
		ci, skipMissing string
		wantSkip        bool
	}{
		{"", "", false},      // a developer's plain go test: a failure that says how to skip
		{"true", "", false},  // CI
		{"", "1", true},      // asked for
		{"true", "1", false}, // CI never skips
	} {
		t.Setenv("CI", tc.ci)
		t.Setenv(SkipMissing, tc.skipMissing)
		v := &verdict{}
		Require(v, "Redis", missing)
		if tc.wantSkip && (v.skip == "" || v.fatal != "") || !tc.wantSkip && (v.fatal == "" || v.skip != "") {
			t.Errorf("CI=%q %s=%q: fatal %q, skip %q", tc.ci, SkipMissing, tc.skipMissing, v.fatal, v.skip)
		}
		v = &verdict{}
		Require(v, "Redis", nil)
		if v.fatal != "" || v.skip != "" {
			t.Errorf("an available service failed or skipped the test: %+v", v)
		}
	}
}
