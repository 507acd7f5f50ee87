package routes

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/porticoproxy/portico/internal/mapping"
)

func upsert(rev int64, name, share string) mapping.Change {
	return mapping.Change{Revision: rev, Op: mapping.Upsert, Mapping: mapping.Mapping{Name: name, Share: share}}
}

func del(rev int64, name string) mapping.Change {
	return mapping.Change{Revision: rev, Op: mapping.Delete, Mapping: mapping.Mapping{Name: name}}
}

func TestApplyRule(t *testing.T) {
	tests := []struct {
		name    string
		changes []mapping.Change
		results []Result
		rev     int64
		want    map[string]string // host → share; absent hosts must not resolve
		absent  []string
	}{
		{
			name:    "in order",
			changes: []mapping.Change{upsert(1, "a.ns", "sa"), upsert(2, "b.ns", "sb")},
			results: []Result{Applied, Applied},
			rev:     2,
			want:    map[string]string{"a.ns": "sa", "b.ns": "sb"},
		},
		{
			name:    "duplicate is dropped",
			changes: []mapping.Change{upsert(1, "a.ns", "sa"), upsert(1, "a.ns", "other"), upsert(0, "z.ns", "sz")},
			results: []Result{Applied, Duplicate, Duplicate},
			rev:     1,
			want:    map[string]string{"a.ns": "sa"},
			absent:  []string{"z.ns"},
		},
		{
			name:    "gap is refused until filled",
			changes: []mapping.Change{upsert(1, "a.ns", "sa"), upsert(3, "c.ns", "sc"), upsert(2, "b.ns", "sb"), upsert(3, "c.ns", "sc")},
			results: []Result{Applied, Gap, Applied, Applied},
			rev:     3,
			want:    map[string]string{"a.ns": "sa", "b.ns": "sb", "c.ns": "sc"},
		},
		{
			name:    "delete is a tombstone",
			changes: []mapping.Change{upsert(1, "a.ns", "sa"), del(2, "a.ns"), del(3, "never.ns")},
			results: []Result{Applied, Applied, Applied},
			rev:     3,
			absent:  []string{"a.ns", "never.ns"},
		},
		{
			name:    "upsert replaces",
			changes: []mapping.Change{upsert(1, "a.ns", "sa"), upsert(2, "a.ns", "sa2")},
			results: []Result{Applied, Applied},
			rev:     2,
			want:    map[string]string{"a.ns": "sa2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := NewTable()
			tab.Replace(0, nil)
			for i, c := range tt.changes {
				if got := tab.Apply(c); got != tt.results[i] {
					t.Fatalf("change %d (rev %d): got result %d, want %d", i, c.Revision, got, tt.results[i])
				}
			}
			if got := tab.Revision(); got != tt.rev {
				t.Errorf("revision = %d, want %d", got, tt.rev)
			}
			for host, share := range tt.want {
				r, _ := tab.Lookup(host)
				if r == nil || r.Share != share {
					t.Errorf("Lookup(%q) = %+v, want share %q", host, r, share)
				} else if len(r.Upstreams) != 1 || r.Upstreams[0].Dial != share+":80" {
					t.Errorf("Lookup(%q) upstreams = %+v", host, r.Upstreams)
				}
			}
			for _, host := range tt.absent {
				if r, _ := tab.Lookup(host); r != nil {
					t.Errorf("Lookup(%q) = %+v, want none", host, r)
				}
			}
		})
	}
}

func TestApplyBeforeLoad(t *testing.T) {
	tab := NewTable()
	if got := tab.Apply(upsert(1, "a.ns", "sa")); got != NotLoaded {
		t.Fatalf("Apply before load = %d, want NotLoaded", got)
	}
	if _, loaded := tab.Lookup("a.ns"); loaded {
		t.Fatal("table reports loaded before any snapshot")
	}
}

func TestReplaceSwapsWholeTable(t *testing.T) {
	tab := NewTable()
	tab.Replace(5, []mapping.Mapping{{Name: "a.ns", Share: "sa"}})
	tab.Replace(9, []mapping.Mapping{{Name: "b.ns", Share: "sb"}})
	if r, _ := tab.Lookup("a.ns"); r != nil {
		t.Errorf("a.ns survived a snapshot that does not hold it")
	}
	if r, loaded := tab.Lookup("b.ns"); r == nil || !loaded {
		t.Errorf("b.ns missing after snapshot")
	}
	if tab.Revision() != 9 {
		t.Errorf("revision = %d, want 9", tab.Revision())
	}
}

func TestCacheRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "cache.json")
	tab := NewTable()
	tab.Replace(7, []mapping.Mapping{{Name: "a.ns", Share: "sa", Policy: []byte(`{"x":1}`)}})
	if err := tab.Save(path); err != nil {
		t.Fatal(err)
	}
	back := NewTable()
	if ok, err := back.Load(path); err != nil || !ok {
		t.Fatalf("Load = %v, %v", ok, err)
	}
	r, loaded := back.Lookup("a.ns")
	if !loaded || r == nil || r.Share != "sa" || string(r.Policy) != `{"x":1}` || back.Revision() != 7 {
		t.Fatalf("loaded table = rev %d, %+v", back.Revision(), r)
	}
	if ok, err := NewTable().Load(filepath.Join(t.TempDir(), "missing.json")); ok || err != nil {
		t.Fatalf("Load(missing) = %v, %v; want false, nil", ok, err)
	}
}

// TestConcurrentReaders runs under -race: readers must never see a torn table.
func TestConcurrentReaders(t *testing.T) {
	tab := NewTable()
	tab.Replace(0, nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r, _ := tab.Lookup("a.ns"); r != nil && r.Share == "" {
					t.Error("half-built route seen")
				}
			}
		}()
	}
	for i := int64(1); i <= 2000; i++ {
		if i%2 == 1 {
			tab.Apply(upsert(i, "a.ns", "sa"))
		} else {
			tab.Apply(del(i, "a.ns"))
		}
	}
	close(stop)
	wg.Wait()
}

func TestRouteCompilesPolicy(t *testing.T) {
	tests := []struct {
		name      string
		policy    string
		agents    []string
		access    bool
		accessErr string
		dials     []string
	}{
		{name: "no policy", dials: []string{"sa:80"}},
		{name: "empty policy", policy: "{}", dials: []string{"sa:80"}},
		{name: "ip rule", policy: `{"ip_allow":["10.0.0.0/8"]}`, access: true, dials: []string{"sa:80"}},
		{name: "agents", agents: []string{"ag1", "ag2"}, dials: []string{"ag1@sa:80", "ag2@sa:80"}},
		{name: "agents and a policy", policy: `{"ip_allow":["10.0.0.0/8"]}`, agents: []string{"ag1"}, access: true, dials: []string{"ag1@sa:80"}},
		// Controllers before agents were on the mapping put them in the
		// policy; a journal, cache or controller of then still may.
		{name: "agents in an old policy", policy: `{"agents":["ag1","ag2"]}`, dials: []string{"ag1@sa:80", "ag2@sa:80"}},
		{name: "agents in an old policy with rules", policy: `{"agents":["ag1"],"ip_allow":["10.0.0.0/8"]}`, access: true, dials: []string{"ag1@sa:80"}},
		{name: "invalid policy fails closed", policy: `{"ip_allow":["not-an-ip"]}`, accessErr: "ip_allow[0]", dials: []string{"sa:80"}},
		{name: "malformed policy fails closed", policy: `{"x":1}`, accessErr: `unknown field "x"`, dials: []string{"sa:80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := NewTable()
			tab.Replace(1, []mapping.Mapping{{Name: "a.ns", Share: "sa", Policy: []byte(tt.policy), Agents: tt.agents}})
			r, _ := tab.Lookup("a.ns")
			if r == nil {
				t.Fatal("no route: a share whose policy does not compile must still be routed, to refuse it")
			}
			if (r.Access != nil) != tt.access {
				t.Errorf("Access = %v, want one: %v", r.Access, tt.access)
			}
			if tt.accessErr == "" && r.AccessErr != nil || tt.accessErr != "" && (r.AccessErr == nil || !strings.Contains(r.AccessErr.Error(), tt.accessErr)) {
				t.Errorf("AccessErr = %v, want %q", r.AccessErr, tt.accessErr)
			}
			var dials []string
			for _, u := range r.Upstreams {
				dials = append(dials, u.Dial)
			}
			if strings.Join(dials, " ") != strings.Join(tt.dials, " ") {
				t.Errorf("upstreams = %v, want %v", dials, tt.dials)
			}
		})
	}
}

func TestSplitDialHost(t *testing.T) {
	for host, want := range map[string][2]string{
		"share":     {"", "share"},
		"ag1@share": {"ag1", "share"},
		"a@b@share": {"a@b", "share"},
		"@share":    {"", "share"},
	} {
		if a, s := SplitDialHost(host); a != want[0] || s != want[1] {
			t.Errorf("SplitDialHost(%q) = %q, %q; want %q", host, a, s, want)
		}
	}
}
