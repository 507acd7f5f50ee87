package zitiident

// controllers.go: identities that start on any member of a controller
// cluster. Enrollment writes only the one controller of the enrollment
// token (ztAPI), and a process whose identity names only a member that is
// down retries it for ever; with ztAPIs, every member's address, it starts
// on any live one.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"sync"

	"github.com/openziti/sdk-golang/ziti"

	"github.com/porticoproxy/portico/internal/atomicfile"
)

// controllersListener is what a context (ziti.ContextImpl) offers to learn
// the cluster's members, which it lists after each login.
type controllersListener interface {
	AddControllerUrlsUpdateListener(func(ziti.Context, []*url.URL)) func()
}

// onControllers calls fn, sorted, with the edge-client addresses of every
// member of zc's controller cluster after each login that lists more than
// one member; a single controller never calls it.
func onControllers(zc ziti.Context, fn func(urls []string)) {
	l, ok := zc.(controllersListener)
	if !ok {
		return
	}
	l.AddControllerUrlsUpdateListener(func(_ ziti.Context, urls []*url.URL) {
		out := make([]string, 0, len(urls))
		for _, u := range urls {
			out = append(out, u.String())
		}
		slices.Sort(out)
		fn(out)
	})
}

// withControllers returns the identity file with urls added to its ztAPIs
// and every other field as it was. Addresses are only added: a member that
// was down when the list was read is kept.
func withControllers(identity []byte, urls []string) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(identity, &fields); err != nil {
		return nil, fmt.Errorf("decoding identity: %w", err)
	}
	var known []string
	if raw, ok := fields["ztAPIs"]; ok {
		_ = json.Unmarshal(raw, &known) // a field that is no list is replaced
	}
	raw, err := json.Marshal(union(known, urls))
	if err != nil {
		return nil, err
	}
	fields["ztAPIs"] = raw
	return json.Marshal(fields)
}

// withOnlyController returns the identity file naming url as its one
// controller.
func withOnlyController(identity []byte, url string) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(identity, &fields); err != nil {
		return nil, fmt.Errorf("decoding identity: %w", err)
	}
	delete(fields, "ztAPIs")
	raw, err := json.Marshal(url)
	if err != nil {
		return nil, err
	}
	fields["ztAPI"] = raw
	return json.Marshal(fields)
}

// keepControllers makes the identity file at path list the cluster's
// members whenever a login of zc finds them changed, writing it whole and
// atomically with mode 0600.
func keepControllers(zc ziti.Context, path string, identity []byte) {
	var mu sync.Mutex
	var cfg ziti.Config
	_ = json.Unmarshal(identity, &cfg) // NewContextFromJSON decoded it already
	known := union(cfg.ZtAPIs, nil)
	onControllers(zc, func(urls []string) {
		mu.Lock()
		defer mu.Unlock()
		if slices.Equal(union(known, urls), known) {
			return
		}
		updated, err := withControllers(identity, urls)
		if err == nil {
			err = atomicfile.Write(path, func(w io.Writer) error { _, err := w.Write(updated); return err })
		}
		if err != nil {
			// A read-only identity file still works; it only starts on the
			// controllers it names.
			fmt.Fprintf(os.Stderr, "portico: could not record the OpenZiti controllers in %s: %v\n", path, err)
			return
		}
		identity, known = updated, union(known, urls)
	})
}

// union returns the addresses of a and b, sorted, each once.
func union(a, b []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a), b...))))
}
