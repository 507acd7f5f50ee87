package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/openziti/sdk-golang/ziti"
	"github.com/openziti/sdk-golang/ziti/edge"
	"go.uber.org/zap"

	"github.com/porticoproxy/portico/internal/backoff"
	"github.com/porticoproxy/portico/internal/zitiident"
)

// checkEvery is how often a bound share checks that its service is still
// the one it bound and that the overlay still has its terminator. The SDK
// keeps a listener open when its service is removed, or when the controller
// drops its terminator, so such a share would otherwise never be served
// again.
const checkEvery = 5 * time.Second

// terminatorWait bounds how long a bind waits for the controller to list
// the new terminator; it takes milliseconds on a healthy network.
const terminatorWait = 15 * time.Second

// recheckAfter is how soon a check that missed the terminator is repeated:
// a second miss means the terminator is lost, while one miss may be a router
// reconnect in progress.
const recheckAfter = time.Second

// A Backend serves the connections that arrive on a share's listener until
// ctx ends or the listener fails.
type Backend interface {
	Serve(ctx context.Context, ln net.Listener, logger *zap.Logger) error
}

// Share serves one share's service until ctx ends.
type Share struct {
	Ziti    ziti.Context
	Service string // the share token
	// Identity, if set, binds the service under this terminator identity,
	// so frontends can address this agent among several.
	Identity string
	// Backend serves what arrives: a Proxy, a Caddy, a TCPTunnel or a
	// UDPTunnel.
	Backend Backend
	// Rejoin, if set, is called after the share was bound again, for an
	// agent that must put itself back in its share's rotation.
	Rejoin func(ctx context.Context) error
	Logger *zap.Logger
}

// Run binds the service, calls ready once the overlay lists its terminator,
// and serves it with its Backend until ctx ends. When the binding is lost, it
// binds again. It fails only if the first bind or ready does.
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
		err := s.Backend.Serve(ctx, ln, s.Logger)
		stop()
		ln.Close()
		if ctx.Err() != nil {
			return nil
		}
		s.Logger.Warn("lost the share's overlay binding; binding again", zap.String("share", s.Service), zap.Error(err))
		if ln, svcID, err = s.rebind(ctx); err != nil {
			return nil // ctx ended
		}
		s.Logger.Warn("bound the share again", zap.String("share", s.Service))
		if s.Rejoin != nil {
			if err := s.Rejoin(ctx); err != nil {
				s.Logger.Warn("rejoining the share's rotation", zap.String("share", s.Service), zap.Error(err))
			}
		}
	}
}

// rebind binds the service again after the binding was lost, backing off
// between attempts, until it succeeds or ctx ends.
func (s *Share) rebind(ctx context.Context) (edge.Listener, string, error) {
	var bo backoff.Backoff
	for backoff.Sleep(ctx, bo.Next()) {
		ln, svcID, err := s.bind(ctx)
		if err == nil {
			return ln, svcID, nil
		}
		s.Logger.Debug("binding the share again failed; retrying", zap.String("share", s.Service), zap.Error(err))
	}
	return nil, "", ctx.Err()
}

func (s *Share) bind(ctx context.Context) (edge.Listener, string, error) {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ln, err := zitiident.Listen(lctx, s.Ziti, s.Service, s.Identity, s.Logger)
	if err != nil {
		return nil, "", fmt.Errorf("binding share %s on the overlay: %w", s.Service, err)
	}
	id, err := zitiident.ServiceID(s.Ziti, s.Service)
	if err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("reading share %s's service: %w", s.Service, err)
	}
	// The router has accepted the bind, but only a terminator on the
	// controller makes the share reachable: wait until it is listed.
	if err := s.awaitTerminator(lctx); err != nil {
		ln.Close()
		return nil, "", fmt.Errorf("binding share %s on the overlay: %w", s.Service, err)
	}
	return ln, id, nil
}

// awaitTerminator waits until the controller lists this agent's terminator.
func (s *Share) awaitTerminator(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, terminatorWait)
	defer cancel()
	var bo backoff.Backoff
	for {
		ok, err := s.hasTerminator()
		if ok {
			return nil
		}
		if ctx.Err() != nil {
			if err == nil {
				err = errors.New("the controller lists no terminator for it")
			}
			return fmt.Errorf("waiting for its terminator: %w", err)
		}
		backoff.Sleep(ctx, min(bo.Next(), time.Second))
	}
}

// hasTerminator asks the controller whether it lists a terminator of the
// service for this agent: the one of its Identity, or any when it has none
// (an ephemeral share has one agent).
func (s *Share) hasTerminator() (bool, error) {
	// A share has a handful of agents; 100 is the client API's page limit.
	ts, _, err := s.Ziti.GetServiceTerminators(s.Service, 0, 100)
	if err != nil {
		return false, err
	}
	for _, t := range ts {
		if s.Identity == "" || (t.Identity != nil && *t.Identity == s.Identity) {
			return true, nil
		}
	}
	return false, nil
}

// watch closes ln when the service it was bound to is gone or was replaced,
// or when the controller no longer lists its terminator.
func (s *Share) watch(ctx context.Context, ln edge.Listener, svcID string) {
	missed := false
	for {
		wait := checkEvery
		if missed {
			wait = recheckAfter
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		id, err := zitiident.ServiceID(s.Ziti, s.Service)
		if errors.Is(err, zitiident.ErrServiceNotFound) || (err == nil && id != svcID) {
			ln.Close()
			return
		}
		ok, err := s.hasTerminator()
		if err != nil || ok {
			missed = false
			continue
		}
		if missed {
			s.Logger.Warn("the overlay lost this agent's terminator", zap.String("share", s.Service))
			ln.Close()
			return
		}
		missed = true
	}
}
