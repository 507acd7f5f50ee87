package service

// Shares: creating one with its OpenZiti service, deleting it, and what
// reaches it.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/controller/zitiauto"
	"github.com/porticoproxy/portico/internal/apitypes"
)

// shareTokenLength is long enough to be unguessable and short enough for a
// readable host name.
const shareTokenLength = 12

// backendModes are what an agent can serve: an HTTP target, a directory, a
// Caddyfile, or raw TCP or UDP (private shares only).
var backendModes = map[string]bool{"proxy": true, "web": true, "caddy": true, "tcpTunnel": true, "udpTunnel": true}

// checkShareRequest fills in the defaults of r and checks it.
func checkShareRequest(r *apitypes.ShareRequest) error {
	if r.ShareMode == "" {
		r.ShareMode = "public"
	}
	if r.BackendMode == "" && (!r.Reserved || r.Target != "") {
		r.BackendMode = "proxy"
	}
	switch {
	case r.ShareMode != "public" && r.ShareMode != "private":
		return invalid("share_mode " + quote(r.ShareMode) + " is not supported; use \"public\" or \"private\"")
	case r.BackendMode != "" && !backendModes[r.BackendMode]:
		return invalid("backend_mode " + quote(r.BackendMode) + " is not supported; use proxy, web, caddy, tcpTunnel or udpTunnel")
	case r.ShareMode == "public" && (r.BackendMode == "tcpTunnel" || r.BackendMode == "udpTunnel"):
		return invalid("backend_mode " + r.BackendMode + " needs a private share: frontends speak HTTP")
	case r.EnvironmentID == "":
		return invalid("environment_id is required")
	case r.Name != "" && !r.Reserved:
		return invalid("name is for reserved shares; an ephemeral share is named by its token")
	case r.Reserved && r.Name == "":
		return invalid("a reserved share needs a name")
	case r.Policy != nil && r.ShareMode != "public":
		return invalid("policy applies at the frontends, so only to public shares")
	case r.Closed && r.ShareMode != "private":
		return invalid("closed is for private shares; a public share's policy says who may reach it")
	}
	if r.Reserved {
		r.Name = strings.ToLower(r.Name)
		if !labelRE.MatchString(r.Name) {
			return invalid("name " + quote(r.Name) + " is not a DNS label: use 1-63 of a-z, 0-9 and '-', not starting or ending with '-'")
		}
	}
	if r.Policy != nil {
		if err := r.Policy.Validate(); err != nil {
			return invalid("policy: " + err.Error())
		}
	}
	if r.Target == "" && r.Reserved {
		return nil
	}
	return validTarget(r.BackendMode, r.Target)
}

// CreateShare makes a share for one of the account's environments: its
// OpenZiti service and policies first, then its record and mappings, which
// go to the frontends that serve its namespace.
func (s *Service) CreateShare(ctx context.Context, acct store.Account, req apitypes.ShareRequest) (store.Share, error) {
	if err := checkShareRequest(&req); err != nil {
		return store.Share{}, err
	}
	env, err := s.store.Environment(ctx, acct.ID, req.EnvironmentID)
	if err != nil {
		return store.Share{}, err
	}
	var ns store.Namespace
	if req.ShareMode == "private" && req.Namespace == "" {
		ns, err = s.anyNamespace(ctx, acct.ID)
	} else {
		ns, err = s.namespaceFor(ctx, req.Namespace, acct.ID)
	}
	if err != nil {
		return store.Share{}, err
	}
	sh := store.Share{
		Token: token.New(shareTokenLength), AccountID: acct.ID, EnvironmentID: env.ID, NamespaceID: ns.ID, Namespace: ns.Name,
		Name: req.Name, ShareMode: req.ShareMode, BackendMode: req.BackendMode, Target: req.Target, Reserved: req.Reserved, Closed: req.Closed, CreatedAt: now(),
		BindIdentityID: env.ZitiIdentityID,
	}
	if sh.Name == "" {
		sh.Name = sh.Token // an ephemeral share is named by its token
	}
	if req.Policy != nil {
		if sh.Policy, err = req.Policy.Encode(); err != nil {
			return store.Share{}, invalid(err.Error())
		}
	}
	if sh.ZitiServiceID, err = s.createShareService(ctx, sh); err != nil {
		return store.Share{}, err
	}
	changes, err := s.store.CreateShare(ctx, sh)
	if err != nil {
		s.logCleanupFailure("share service "+sh.Token, s.ziti.DeleteShareService(context.WithoutCancel(ctx), sh.Token))
		return store.Share{}, err
	}
	s.pub.Publish(changes)
	return sh, nil
}

// createShareService makes a share's OpenZiti service with its Bind and
// Dial policies.
func (s *Service) createShareService(ctx context.Context, sh store.Share) (string, error) {
	dialRoles, err := s.DialRoles(ctx, sh)
	if err != nil {
		return "", err
	}
	return s.ziti.CreateShareService(ctx, sh.Token, zitiauto.BindRoles(sh.Reserved, sh.AccountID, sh.BindIdentityID), dialRoles)
}

// RestoreShareService makes a share's OpenZiti service again, for a share
// whose service is missing from the overlay.
func (s *Service) RestoreShareService(ctx context.Context, sh store.Share) error {
	svc, err := s.createShareService(ctx, sh)
	if err != nil {
		return fmt.Errorf("recreating share %s on the overlay: %w", sh.Token, err)
	}
	if err := s.store.SetShareService(ctx, sh.Token, svc); err != nil {
		return err
	}
	// Give the agent the reaper's grace to bind the new service.
	return s.store.MarkSharesSeen(ctx, []string{sh.Token}, time.Now().UTC())
}

// DialRoles are the identity roles of a share's Dial policy: the frontends
// of its namespace for a public share, its accessors' environments for a
// private one.
func (s *Service) DialRoles(ctx context.Context, sh store.Share) ([]string, error) {
	if sh.ShareMode == "public" {
		return []string{"#" + zitiauto.NamespaceRole(sh.NamespaceID)}, nil
	}
	ids, err := s.store.AccessIdentities(ctx, sh.Token)
	if err != nil {
		return nil, err
	}
	return zitiauto.IdentityRoles(ids), nil
}

// DeleteShare removes one of the account's shares.
func (s *Service) DeleteShare(ctx context.Context, accountID, token string) error {
	sh, changes, err := s.store.DeleteShare(ctx, accountID, token)
	if err != nil {
		return err
	}
	s.pub.Publish(changes)
	// The share is gone from the store and the frontends; removing its
	// overlay objects is cleanup that must not stop if the client goes away.
	s.logCleanupFailure("share service "+sh.Token, s.ziti.DeleteShareService(context.WithoutCancel(ctx), sh.Token))
	return nil
}

// ReapShare removes a share whoever owns it, with its overlay objects: an
// ephemeral share whose agent is gone.
func (s *Service) ReapShare(ctx context.Context, token string) error {
	_, changes, err := s.store.RemoveShare(ctx, token)
	if err != nil {
		return fmt.Errorf("removing share %s: %w", token, err)
	}
	s.pub.Publish(changes)
	return s.ziti.DeleteShareService(ctx, token)
}

// Endpoints are the URLs at which a share is reachable: one per frontend
// that serves its namespace, none for a private share.
func (s *Service) Endpoints(ctx context.Context, sh store.Share) ([]string, error) {
	if sh.ShareMode != "public" {
		return []string{}, nil
	}
	fs, err := s.store.NamespaceFrontends(ctx, sh.NamespaceID)
	if err != nil {
		return nil, err
	}
	urls := make([]string, 0, len(fs))
	for _, f := range fs {
		urls = append(urls, strings.ReplaceAll(f.URLTemplate, "{host}", sh.Host()))
	}
	return urls, nil
}
