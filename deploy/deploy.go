// Package deploy holds what Portico gives the parts it does not build: the
// OpenZiti edge router's xgress options and the edit that puts them into a
// router's config, and the Caddyfile of a frontend instance.
package deploy

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"slices"
	"strings"
)

// ZitiRouterXgress is ziti-router-xgress.yml: the options, with the reasons.
//
//go:embed ziti-router-xgress.yml
var ZitiRouterXgress []byte

// TuneZitiRouter puts ZitiRouterXgress into the edge router config at path:
// under the edge listener's options, and as the edge dialer's options. It
// refuses a config with no edge listener options, or with dialers already.
func TuneZitiRouter(path string) error {
	var opts strings.Builder
	for line := range strings.Lines(string(ZitiRouterXgress)) {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			opts.WriteString("      " + t + "\n")
		}
	}
	cfg, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the router config: %w", err)
	}
	const edgeListener = "  - binding: edge\n"
	i := bytes.Index(cfg, []byte(edgeListener))
	j := -1
	if i >= 0 {
		j = bytes.Index(cfg[i:], []byte("\n    options:\n"))
	}
	if j < 0 || bytes.Contains(cfg, []byte("\ndialers:")) {
		return fmt.Errorf("router config %s: no edge listener options to extend, or dialers already set", path)
	}
	at := i + j + len("\n    options:\n")
	out := slices.Concat(cfg[:at], []byte(opts.String()), cfg[at:],
		[]byte("\ndialers:\n  - binding: edge\n    options:\n"+opts.String()))
	return os.WriteFile(path, out, 0o600)
}
