package zitiauto

// routers.go checks the network's edge routers for what Portico needs of them.

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// Router is an edge router as the OpenZiti controller knows it. Version and Revision are what
// the router reported when it connected.
type Router struct {
	Name     string
	Online   bool
	Version  string
	Revision string
	// Warning says what is wrong with the router for Portico; empty when nothing is.
	Warning string
}

// sessionFix is the first release whose routers keep the API sessions of the processes of one
// identity apart (openziti/ziti#3072).
const sessionFix = "v1.6.2"

// patchedRevision marks a router that scripts/ziti-build.sh built with that fix on an older
// release; the script stamps "portico-<patches>" into the binary's revision.
const patchedRevision = "connid"

// Routers lists the network's edge routers, each with its warning.
func (c *Client) Routers(ctx context.Context) ([]Router, error) {
	ers, err := c.list(ctx, "edge-routers", "")
	if err != nil {
		return nil, fmt.Errorf("listing edge routers: %w", err)
	}
	out := make([]Router, len(ers))
	for i, e := range ers {
		out[i] = Router{Name: e.Name, Online: e.IsOnline, Version: e.VersionInfo.Version, Revision: e.VersionInfo.Revision}
		out[i].Warning = RouterWarning(out[i])
	}
	return out, nil
}

// RouterWarning says what is wrong with r for Portico, or "" when nothing is. A router
// without the fix for openziti/ziti#3072 lets the processes of one identity (the instances
// of a frontend record, the agents and accessors of an environment) break each other's dials
// and binds. A router that is offline has reported no version, so it is not judged.
func RouterWarning(r Router) string {
	if !r.Online || r.Version == "" {
		return ""
	}
	v := r.Version
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if semver.IsValid(v) && v != "v0.0.0" && semver.Compare(v, sessionFix) >= 0 {
		return ""
	}
	if strings.Contains(r.Revision, patchedRevision) {
		return ""
	}
	return fmt.Sprintf("edge router %s runs OpenZiti %s (revision %s) without the fix for openziti/ziti#3072: "+
		"processes that share an identity (frontend instances of one record, agents of one environment) "+
		"break each other's dials and binds; run %s or newer, or a build of scripts/ziti-build.sh",
		r.Name, r.Version, r.Revision, sessionFix)
}
