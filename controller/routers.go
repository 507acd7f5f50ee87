package controller

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller/zitiauto"
)

// routersEvery is how long the routers' warnings are kept before OpenZiti is asked again.
const routersEvery = time.Minute

// routerWarnings holds what is wrong with the network's edge routers for Portico, such as a
// version without the fix for openziti/ziti#3072, so that agents and frontends can say so
// where their users look. The routers report their versions to the OpenZiti controller, the
// one place Portico's clients can learn them from: the SDK does not expose them.
type routerWarnings struct {
	ziti   *zitiauto.Client
	logger *zap.Logger

	mu       sync.Mutex
	at       time.Time
	warnings []string
	logged   map[string]bool
}

// Warnings returns the current warnings, asking OpenZiti at most once a minute; callers
// meanwhile get the last answer, also when OpenZiti does not answer (no warning is better
// than a false one).
func (r *routerWarnings) Warnings(ctx context.Context) []string {
	r.mu.Lock()
	if time.Since(r.at) < routersEvery {
		defer r.mu.Unlock()
		return r.warnings
	}
	r.at = time.Now() // the other callers take the last answer while this one asks
	last := r.warnings
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	routers, err := r.ziti.Routers(ctx)
	if err != nil {
		r.logger.Warn("reading the edge routers' versions", zap.Error(err))
		return last
	}
	var warnings []string
	for _, rt := range routers {
		if rt.Warning != "" {
			warnings = append(warnings, rt.Warning)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warnings = warnings
	for _, w := range warnings {
		if !r.logged[w] {
			r.logged[w] = true
			r.logger.Warn(w)
		}
	}
	return warnings
}
