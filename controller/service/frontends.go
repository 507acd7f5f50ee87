package service

// Frontend records, the namespaces they serve, and their identities' roles.

import (
	"context"
	"strings"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/controller/zitiauto"
)

// NewFrontend is a created frontend record with what its instances need and
// the controller keeps only a hash of, or never sees again.
type NewFrontend struct {
	store.Frontend
	Secret        string
	EnrollmentJWT string
}

// CreateFrontend makes a frontend record and its OpenZiti identity.
// urlTemplate says how users reach a host through it; empty means
// https://{host}.
func (s *Service) CreateFrontend(ctx context.Context, description, urlTemplate string) (NewFrontend, error) {
	if urlTemplate == "" {
		urlTemplate = "https://{host}"
	}
	if err := validURLTemplate(urlTemplate); err != nil {
		return NewFrontend{}, invalid(err.Error())
	}
	f := NewFrontend{Frontend: store.Frontend{ID: token.New(12), Description: description, URLTemplate: urlTemplate, CreatedAt: now(), Namespaces: []string{}},
		Secret: token.New(32)}
	f.SecretHash = token.Hash(f.Secret)
	jwt, err := s.withIdentity(ctx, "portico-frontend-"+f.ID, []string{zitiauto.RoleFrontend},
		map[string]string{"portico": "frontend", "porticoFrontend": f.ID},
		func(id string) error {
			f.ZitiIdentityID = id
			return s.store.CreateFrontend(ctx, f.Frontend)
		})
	f.EnrollmentJWT = jwt
	return f, err
}

// MapNamespace makes a frontend serve a namespace: its shares' mappings go to
// the frontend, and its identity gets the namespace's role so that it may
// dial them. It returns how many shares were mapped.
func (s *Service) MapNamespace(ctx context.Context, frontendID, namespace string) (int, error) {
	changes, err := s.store.MapNamespace(ctx, frontendID, strings.ToLower(namespace))
	if err != nil {
		return 0, err
	}
	s.pub.Publish(changes)
	// If the overlay does not answer now, the reconciler gives it the role.
	if err := s.SyncFrontendRoles(ctx, frontendID); err != nil {
		s.logger.Warn("mapped the namespace, but could not give the frontend its role yet; the reconciler will",
			zap.String("frontend", frontendID), zap.Error(err))
	}
	return len(changes), nil
}

// SyncFrontendRoles gives a frontend's identity the roles of the namespaces
// it serves (zitiauto.FrontendRoles).
func (s *Service) SyncFrontendRoles(ctx context.Context, frontendID string) error {
	f, err := s.store.Frontend(ctx, frontendID)
	if err != nil {
		return err
	}
	ids, err := s.store.FrontendNamespaceIDs(ctx, frontendID)
	if err != nil {
		return err
	}
	return s.ziti.SetIdentityRoles(ctx, f.ZitiIdentityID, zitiauto.FrontendRoles(ids))
}

// withIdentity makes an overlay identity and calls save with its id. If save
// fails, the identity is removed again, so a failed request leaves nothing.
func (s *Service) withIdentity(ctx context.Context, name string, roles []string, tags map[string]string, save func(identityID string) error) (enrollmentJWT string, err error) {
	id, jwt, err := s.ziti.CreateIdentity(ctx, name, roles, tags)
	if err != nil {
		return "", err
	}
	if err := save(id); err != nil {
		s.logCleanupFailure("identity "+name, s.ziti.DeleteIdentity(context.WithoutCancel(ctx), id))
		return "", err
	}
	return jwt, nil
}
