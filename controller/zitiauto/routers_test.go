package zitiauto

import (
	"strings"
	"testing"

	"github.com/porticoproxy/portico/internal/testenv"
)

func TestRouterWarning(t *testing.T) {
	for _, tc := range []struct {
		r    Router
		warn bool
	}{
		{Router{Name: "er", Online: true, Version: "v1.6.0", Revision: "abc123"}, true},
		{Router{Name: "er", Online: true, Version: "v1.6.1", Revision: "abc123"}, true},
		{Router{Name: "er", Online: true, Version: "v1.5.4"}, true},
		{Router{Name: "er", Online: true, Version: "v0.0.0", Revision: "local"}, true}, // a development build
		{Router{Name: "er", Online: true, Version: "not-a-version"}, true},
		{Router{Name: "er", Online: true, Version: "v1.6.2"}, false},
		{Router{Name: "er", Online: true, Version: "1.7.2"}, false},
		{Router{Name: "er", Online: true, Version: "v2.0.0"}, false},
		{Router{Name: "er", Online: true, Version: "v1.6.0", Revision: "portico-bbolt-copy-connid-signer"}, false}, // scripts/ziti-build.sh
		{Router{Name: "er", Online: false, Version: "v1.6.0"}, false},                                              // no report to judge
		{Router{Name: "er", Online: true}, false},
	} {
		w := RouterWarning(tc.r)
		if (w != "") != tc.warn {
			t.Errorf("RouterWarning(%+v) = %q, want a warning: %v", tc.r, w, tc.warn)
		}
		if w != "" && (!strings.Contains(w, "openziti/ziti#3072") || !strings.Contains(w, tc.r.Version) || !strings.Contains(w, "scripts/ziti-build.sh")) {
			t.Errorf("RouterWarning(%+v) = %q: it should name the issue, the version and the fix", tc.r, w)
		}
	}
}

// The network the tests run on is built by scripts/ziti-build.sh, and its router says so.
func TestRoutersReportTheirVersion(t *testing.T) {
	routers, err := newClient(t).Routers(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(routers) != 1 {
		t.Fatalf("routers %+v, want the quickstart's one", routers)
	}
	r := routers[0]
	if !r.Online || r.Version != testenv.ZitiVersion || !strings.Contains(r.Revision, "connid") || r.Warning != "" {
		t.Fatalf("router %+v: want it online, at %s, with the connid patch and no warning", r, testenv.ZitiVersion)
	}
}
