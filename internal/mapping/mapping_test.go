package mapping

import (
	"strings"
	"testing"
)

// Every codec of changes checks them with ParseOp and Validate.
func TestChangeRules(t *testing.T) {
	for _, name := range []string{"upsert", "delete"} {
		if op, err := ParseOp(name); err != nil || op.String() != name {
			t.Errorf("ParseOp(%q) = %v, %v", name, op, err)
		}
	}
	for _, name := range []string{"", "UPSERT", "rename", strings.Repeat("x", 1000)} {
		if _, err := ParseOp(name); err == nil || len(err.Error()) > 100 {
			t.Errorf("ParseOp(%.20q) = %v, want a short error", name, err)
		}
	}
	for _, tt := range []struct {
		c    Change
		want string
	}{
		{Change{Revision: 0, Op: Upsert, Mapping: Mapping{Name: "a", Share: "s"}}, "not positive"},
		{Change{Revision: 1, Op: 9, Mapping: Mapping{Name: "a", Share: "s"}}, "unknown op"},
		{Change{Revision: 1, Op: Delete}, "has no name"},
		{Change{Revision: 1, Op: Upsert, Mapping: Mapping{Name: "a"}}, "without a share"},
		{Change{Revision: 1, Op: Delete, Mapping: Mapping{Name: "a"}}, ""},
	} {
		c, want := tt.c, tt.want
		err := c.Validate()
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("Validate(%+v) = %v, want %q", c, err, want)
		}
	}
}
