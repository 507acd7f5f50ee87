package broker

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/porticoproxy/portico/internal/mapping"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, c := range []mapping.Change{
		{Revision: 1, Op: mapping.Upsert, Mapping: mapping.Mapping{Name: "a.share.example.com", Share: "shr1"}},
		{Revision: 12, Op: mapping.Upsert, Mapping: mapping.Mapping{Name: "b.share.example.com", Share: "shr2", Policy: []byte(`{"basic_auth":[{"user":"u"}]}`)}},
		{Revision: 13, Op: mapping.Delete, Mapping: mapping.Mapping{Name: "b.share.example.com"}},
		{Revision: 14, Op: mapping.Upsert, Mapping: mapping.Mapping{Name: "d.share.example.com", Share: "shr4", Agents: []string{"agent-1", "agent-2"}}},
		{Revision: 1 << 62, Op: mapping.Delete, Mapping: mapping.Mapping{Name: "c.share.example.com", Share: "shr3"}},
	} {
		body, err := Encode("fe1", c)
		if err != nil {
			t.Fatalf("Encode(%+v): %v", c, err)
		}
		frontend, got, err := Decode(body)
		if err != nil {
			t.Fatalf("Decode(%s): %v", body, err)
		}
		if frontend != "fe1" || got.Revision != c.Revision || got.Op != c.Op || got.Name != c.Name ||
			got.Share != c.Share || !bytes.Equal(got.Policy, c.Policy) || !slices.Equal(got.Agents, c.Agents) {
			t.Errorf("round trip of %+v gave %q %+v (body %s)", c, frontend, got, body)
		}
	}
}

func TestEncodeWireFormat(t *testing.T) {
	body, err := Encode("fe1", mapping.Change{Revision: 12, Op: mapping.Upsert,
		Mapping: mapping.Mapping{Name: "a.share.example.com", Share: "shr1", Policy: []byte(`{"x": 1}`)}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"frontend":"fe1","revision":12,"op":"upsert","name":"a.share.example.com","share":"shr1","policy":{"x":1}}`
	if string(body) != want {
		t.Errorf("body = %s, want %s", body, want)
	}
}

func TestEncodeRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		frontend string
		c        mapping.Change
	}{
		"no frontend":     {"", mapping.Change{Revision: 1, Op: mapping.Delete, Mapping: mapping.Mapping{Name: "a"}}},
		"zero revision":   {"fe", mapping.Change{Revision: 0, Op: mapping.Delete, Mapping: mapping.Mapping{Name: "a"}}},
		"unknown op":      {"fe", mapping.Change{Revision: 1, Op: 7, Mapping: mapping.Mapping{Name: "a"}}},
		"no name":         {"fe", mapping.Change{Revision: 1, Op: mapping.Delete}},
		"upsert no share": {"fe", mapping.Change{Revision: 1, Op: mapping.Upsert, Mapping: mapping.Mapping{Name: "a"}}},
		"bad policy":      {"fe", mapping.Change{Revision: 1, Op: mapping.Upsert, Mapping: mapping.Mapping{Name: "a", Share: "s", Policy: []byte("{")}}},
	} {
		if body, err := Encode(tc.frontend, tc.c); err == nil {
			t.Errorf("%s: Encode accepted it: %s", name, body)
		}
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		body    string
		wantErr string // empty: valid
	}{
		{`{"frontend":"fe","revision":1,"op":"upsert","name":"a.x","share":"s"}`, ""},
		{`{"frontend":"fe","revision":2,"op":"delete","name":"a.x"}`, ""},
		{`{"frontend":"fe","revision":2,"op":"delete","name":"a.x","share":"s","policy":null}`, ""},
		{`{"frontend":"fe","revision":4611686018427387904,"op":"delete","name":"a.x"}`, ""},
		{`{"frontend":"fe","revision":3,"op":"upsert","name":"a.x","share":"s","future":true}`, ""},
		{``, "decoding"},
		{`garbage`, "decoding"},
		{`null`, "unknown op"},
		{`[]`, "decoding"},
		{`{}`, "unknown op"},
		{`{"frontend":"fe","revision":1,"op":"rename","name":"a.x","share":"s"}`, "unknown op"},
		{`{"frontend":"fe","revision":1,"op":"UPSERT","name":"a.x","share":"s"}`, "unknown op"},
		{`{"frontend":"fe","revision":0,"op":"delete","name":"a.x"}`, "not positive"},
		{`{"frontend":"fe","revision":-1,"op":"delete","name":"a.x"}`, "not positive"},
		{`{"frontend":"fe","revision":1.5,"op":"delete","name":"a.x"}`, "decoding"},
		{`{"frontend":"fe","revision":"7","op":"delete","name":"a.x"}`, "decoding"},
		{`{"frontend":"fe","revision":99999999999999999999,"op":"delete","name":"a.x"}`, "decoding"},
		{`{"frontend":"fe","revision":1,"op":"delete"}`, "no name"},
		{`{"frontend":"fe","revision":1,"op":"upsert","name":"a.x"}`, "without a share"},
		{`{"revision":1,"op":"delete","name":"a.x"}`, "without a frontend"},
		{`{"frontend":"fe","revision":1,"op":"upsert","name":"a.x","share":"s","policy":{]}`, "decoding"},
		{`{"frontend":"fe","revision":1,"op":"delete","name":"a.x"} trailing`, "decoding"},
		{`{"frontend":"fe","revision":1,"op":"` + strings.Repeat("x", 10000) + `","name":"a.x"}`, "unknown op"},
	} {
		_, c, err := Decode([]byte(tc.body))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("Decode(%.80s): %v", tc.body, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("Decode(%.80s) accepted it: %+v", tc.body, c)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("Decode(%.80s) error %q, want it to mention %q", tc.body, err, tc.wantErr)
		case err != nil && len(err.Error()) > 200:
			t.Errorf("Decode(%.80s) error is %d bytes long; it should not echo the body", tc.body, len(err.Error()))
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"frontend":"fe","revision":12,"op":"upsert","name":"a.share.example.com","share":"shr","policy":{"a":[1,2]}}`,
		`{"frontend":"fe","revision":13,"op":"delete","name":"a.share.example.com"}`,
		`{"frontend":"fe","revision":4611686018427387904,"op":"delete","name":"a"}`,
		`{"frontend":"fe","revision":-1,"op":"delete","name":"a"}`,
		`{"frontend":"fe","revision":1,"op":"upsert","name":"a","policy":null}`,
		`{}`, `null`, `[]`, `"x"`, ``, "\xff\xfe", `{"op":{}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		frontend, c, err := Decode(body)
		if err != nil {
			return
		}
		// What Decode accepts must survive a round trip unchanged.
		again, err := Encode(frontend, c)
		if err != nil {
			t.Fatalf("Decode accepted %q but Encode rejects %+v: %v", body, c, err)
		}
		frontend2, c2, err := Decode(again)
		if err != nil {
			t.Fatalf("Decode rejects its own round trip %s: %v", again, err)
		}
		if frontend2 != frontend || c2.Revision != c.Revision || c2.Op != c.Op || c2.Name != c.Name || c2.Share != c.Share {
			t.Fatalf("round trip changed %q %+v into %q %+v", frontend, c, frontend2, c2)
		}
	})
}
