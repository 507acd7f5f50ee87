package syncpb

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/porticoproxy/portico/internal/mapping"
)

// A mapping and a change cross the wire whole, agents included.
func TestConvertRoundTrip(t *testing.T) {
	m := mapping.Mapping{Name: "a.share.test", Share: "s1", Policy: []byte(`{"ip_deny":["10.0.0.0/8"]}`), Agents: []string{"agent-1", "agent-2"}}
	c := mapping.Change{Revision: 7, Op: mapping.Upsert, Mapping: m}
	wire, err := proto.Marshal(FromChange(c))
	if err != nil {
		t.Fatal(err)
	}
	var back Change
	if err := proto.Unmarshal(wire, &back); err != nil {
		t.Fatal(err)
	}
	got, err := ToChange(&back)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("change round trip = %+v, %v; want %+v", got, err, c)
	}
	if got := ToMappings(FromMappings([]mapping.Mapping{m})); !reflect.DeepEqual(got, []mapping.Mapping{m}) {
		t.Errorf("mappings round trip = %+v, want %+v", got, m)
	}
	bad := FromChange(c)
	bad.Mapping.Agents = []string{"x@y"}
	if _, err := ToChange(bad); err == nil {
		t.Error("an agent name with '@' crossed the wire")
	}
}
