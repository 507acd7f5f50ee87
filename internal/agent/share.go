package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/openziti/sdk-golang/ziti"
	"github.com/openziti/sdk-golang/ziti/edge"
	"go.uber.org/zap"

	"github.com/porticoproxy/portico/internal/zitiident"
)

// checkEvery is how often a bound share checks that its service is still
// the one it bound. The SDK keeps a listener open when its service is
// removed, so a service the controller's reconciler recreated would
// otherwise never be served again.
const checkEvery = 5 * time.Second

// Share serves one share's service until ctx ends.
type Share struct {
	Ziti    ziti.Context
	Service string // the share token
	// Identity, if set, binds the service under this terminator identity,
	// so frontends can address this agent among several.
	Identity string
	Target   *url.URL
	Insecure bool
	// Backend serves what arrives, such as a TCPTunnel or a Caddy; nil
	// proxies HTTP to Target.
	Backend Backend
	Logger  *zap.Logger
}

// Run binds the service, calls ready once it is bound, and forwards to the
// target until ctx ends. When the binding is lost, it binds again. It fails
// only if the first bind or ready does.
func (s *Share) Run(ctx context.Context, ready func() error) error {
	ln, svcID, err := s.bind(ctx)
	if err != nil {
		return err
	}
	if err := ready(); err != nil {
		ln.Close()
		return err
	}
	for {
		watch, stop := context.WithCancel(ctx)
		go s.watch(watch, ln, svcID)
		err := s.serve(ctx, ln)
		stop()
		ln.Close()
		if ctx.Err() != nil {
			return nil
		}
		s.Logger.Warn("lost the share's overlay binding; binding again", zap.String("share", s.Service), zap.Error(err))
		for delay := 500 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
			if ln, svcID, err = s.bind(ctx); err == nil {
				s.Logger.Info("bound the share again", zap.String("share", s.Service))
				break
			}
		}
	}
}

func (s *Share) serve(ctx context.Context, ln net.Listener) error {
	if s.Backend != nil {
		return s.Backend.Serve(ctx, ln, s.Logger)
	}
	return Serve(ctx, ln, s.Target, s.Insecure, s.Logger)
}

func (s *Share) bind(ctx context.Context) (edge.Listener, string, error) {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ln, err := zitiident.Listen(lctx, s.Ziti, s.Service, s.Identity)
	if err != nil {
		return nil, "", fmt.Errorf("binding share %s on the overlay: %w", s.Service, err)
	}
	id, err := zitiident.ServiceID(s.Ziti, s.Service)
	if err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("reading share %s's service: %w", s.Service, err)
	}
	return ln, id, nil
}

// watch closes ln when the service it was bound to is gone or was replaced.
func (s *Share) watch(ctx context.Context, ln edge.Listener, svcID string) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(checkEvery):
		}
		id, err := zitiident.ServiceID(s.Ziti, s.Service)
		if errors.Is(err, zitiident.ErrServiceNotFound) || (err == nil && id != svcID) {
			ln.Close()
			return
		}
	}
}
