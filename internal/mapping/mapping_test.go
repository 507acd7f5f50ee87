package mapping

import (
	"slices"
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
		{Change{Revision: 1, Op: Upsert, Mapping: Mapping{Name: "a", Share: "s", Agents: []string{"agent-1", "b_2.x"}}}, ""},
		{Change{Revision: 1, Op: Upsert, Mapping: Mapping{Name: "a", Share: "s", Agents: make([]string, MaxAgents+1)}}, "65 agents; at most 64"},
		{Change{Revision: 1, Op: Upsert, Mapping: Mapping{Name: "a", Share: "s", Agents: []string{""}}}, "agent 0 is 0 bytes"},
		{Change{Revision: 1, Op: Upsert, Mapping: Mapping{Name: "a", Share: "s", Agents: []string{strings.Repeat("a", 64)}}}, "agent 0 is 64 bytes"},
		{Change{Revision: 1, Op: Upsert, Mapping: Mapping{Name: "a", Share: "s", Agents: []string{"x@y"}}}, "may hold only"},
		{Change{Revision: 1, Op: Upsert, Mapping: Mapping{Name: "a", Share: "s", Agents: []string{"a b"}}}, "may hold only"},
		{Change{Revision: 1, Op: Upsert, Mapping: Mapping{Name: "a", Share: "s", Agents: []string{"x", "y", "x"}}}, `agent "x" appears twice`},
	} {
		c, want := tt.c, tt.want
		err := c.Validate()
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("Validate(%+v) = %v, want %q", c, err, want)
		}
	}
}

// Upgrade moves the agents that older controllers put in the policy onto
// the mapping, and leaves every other mapping as it is.
func TestUpgrade(t *testing.T) {
	for _, tt := range []struct {
		policy, wantPolicy string
		wantAgents         []string
	}{
		{policy: "", wantPolicy: ""},
		{policy: `{"ip_allow":["10.0.0.0/8"]}`, wantPolicy: `{"ip_allow":["10.0.0.0/8"]}`},
		{policy: `{"agents":["a1","a2"]}`, wantPolicy: "", wantAgents: []string{"a1", "a2"}},
		{policy: `{"ip_allow": ["10.0.0.0/8"], "agents": ["a1"]}`, wantPolicy: `{"ip_allow":["10.0.0.0/8"]}`, wantAgents: []string{"a1"}},
		// "agents" as a value is no key, and what is not an object stays.
		{policy: `{"request_headers":{"set":{"x":"agents"}}}`, wantPolicy: `{"request_headers":{"set":{"x":"agents"}}}`},
		{policy: `{"agents":`, wantPolicy: `{"agents":`},
		{policy: `{"agents":"a1"}`, wantPolicy: `{"agents":"a1"}`},
	} {
		got := Upgrade(Mapping{Name: "n", Share: "s", Policy: []byte(tt.policy)})
		if got.Name != "n" || got.Share != "s" || string(got.Policy) != tt.wantPolicy || !slices.Equal(got.Agents, tt.wantAgents) {
			t.Errorf("Upgrade(%s) = %s %v, want %s %v", tt.policy, got.Policy, got.Agents, tt.wantPolicy, tt.wantAgents)
		}
	}
}
