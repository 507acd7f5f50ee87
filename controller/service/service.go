// Package service holds the controller's workflows: what creating, changing
// and deleting accounts, namespaces, frontends, environments and shares does
// in the store, on the OpenZiti network and at the frontends. The REST API's
// handlers decode a request, call one method and encode its answer; the
// singleton workers call the same methods to reap and repair.
package service

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller/store"
)

// Ziti is the overlay automation the workflows drive.
type Ziti interface {
	CreateIdentity(ctx context.Context, name string, roleAttributes []string, tags map[string]string) (id, enrollmentJWT string, err error)
	DeleteIdentity(ctx context.Context, id string) error
	CreateShareService(ctx context.Context, shareToken string, bindIdentityRoles, dialIdentityRoles []string) (string, error)
	DeleteShareService(ctx context.Context, shareToken string) error
	SetShareDialRoles(ctx context.Context, shareToken string, identityRoles []string) error
	SetIdentityRoles(ctx context.Context, id string, roles []string) error
}

// Publisher delivers committed mapping changes to the frontends.
type Publisher interface {
	Publish(changes []store.FrontendChange)
}

// Resolver looks up the TXT records that prove control of a domain.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Service runs the workflows against one store and overlay.
type Service struct {
	store    *store.Store
	ziti     Ziti
	pub      Publisher
	resolver Resolver
	logger   *zap.Logger
}

// New returns the workflows over st and z; committed changes go to pub.
func New(st *store.Store, z Ziti, pub Publisher, resolver Resolver, logger *zap.Logger) *Service {
	return &Service{store: st, ziti: z, pub: pub, resolver: resolver, logger: logger}
}

// The kinds of request a caller must change, besides the store's
// ErrNotFound, ErrConflict and ErrLimit. Test for them with errors.Is; the
// error's text says what to change.
var (
	ErrInvalid    = errors.New("invalid request")
	ErrForbidden  = errors.New("not allowed for this account")
	ErrUnverified = errors.New("domain not verified")
)

// rejection is a refused request of one of the kinds above.
type rejection struct {
	kind error
	msg  string
}

func (r rejection) Error() string { return r.msg }
func (r rejection) Unwrap() error { return r.kind }

func invalid(msg string) error   { return rejection{ErrInvalid, msg} }
func forbidden(msg string) error { return rejection{ErrForbidden, msg} }

// logCleanupFailure logs a cleanup step that failed after the workflow's
// outcome was settled; the caller's answer does not depend on it, and the
// reconciler removes what is left on the overlay.
func (s *Service) logCleanupFailure(what string, err error) {
	if err != nil {
		s.logger.Warn("cleanup failed; the object is left on the overlay", zap.String("object", what), zap.Error(err))
	}
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func quote(s string) string { return strconv.Quote(s) }
