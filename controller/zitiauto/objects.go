package zitiauto

// This file holds the Ziti objects Portico manages: the baseline policy, identities and the
// service of each share with its policies.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"
)

// Role attributes that Portico gives identities; policies select identities by them.
const (
	// RoleFrontend marks the identities of frontends.
	RoleFrontend = "portico-frontend"
	// RoleEnvironment marks the identities of environments (agents).
	RoleEnvironment = "portico-environment"
)

// AccountRole marks the identities of one account's environments, so that
// any of them may bind the account's reserved shares.
func AccountRole(accountID string) string { return "portico-account-" + accountID }

// NamespaceRole marks the identities of the frontends that serve a
// namespace. A public share's Dial policy names it, so only the frontends
// that serve the share's namespace may dial the share.
func NamespaceRole(namespaceID string) string { return "portico-ns-" + namespaceID }

// FrontendRoles are the role attributes of a frontend's identity that serves
// these namespaces.
func FrontendRoles(namespaceIDs []string) []string {
	roles := []string{RoleFrontend}
	for _, id := range namespaceIDs {
		roles = append(roles, NamespaceRole(id))
	}
	return roles
}

// BindRoles are the identities that may serve a share: the environment
// that made it, or for a reserved name any of its account's environments,
// so that agents on several machines can serve one name.
func BindRoles(reserved bool, accountID, environmentIdentityID string) []string {
	if reserved {
		return []string{"#" + AccountRole(accountID)}
	}
	return []string{"@" + environmentIdentityID}
}

// baselinePolicy names the edge-router policy that lets Portico's identities use every router.
const baselinePolicy = "portico-edge-routers"

// Tag keys on the objects Portico creates. Every object of a share carries the share token, so
// DeleteShareService removes exactly that share's objects.
const (
	tagPortico = "portico"
	tagShare   = "porticoShare"
	// tagDeployment names the deployment that made an object.
	tagDeployment = "porticoDeployment"
)

// cleanupTimeout bounds the removal of a half-created share, which runs even when the
// caller's ctx has ended.
const cleanupTimeout = 15 * time.Second

// safeToken is what a share token may look like. It keeps the token safe inside a quoted
// filter value and a URL.
var safeToken = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// safeID is what a Ziti object id may look like (a shortid or a UUID), for the same reason.
var safeID = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// EnsureBaseline makes sure the edge-router policy exists that lets #portico-frontend and
// #portico-environment identities use #all edge routers. It is idempotent, and it puts the
// policy's roles right if someone changed them.
func (c *Client) EnsureBaseline(ctx context.Context) error {
	policy := map[string]any{
		"name":            baselinePolicy,
		"semantic":        "AnyOf",
		"edgeRouterRoles": []string{"#all"},
		"identityRoles":   []string{"#" + RoleFrontend, "#" + RoleEnvironment},
		"tags":            map[string]string{tagPortico: "baseline"},
	}
	found, err := c.list(ctx, "edge-router-policies", fmt.Sprintf("name=%q", baselinePolicy))
	if err != nil {
		return fmt.Errorf("looking up edge router policy: %w", err)
	}
	if len(found) > 0 {
		if err := c.call(ctx, http.MethodPut, "edge-router-policies/"+url.PathEscape(found[0].ID), policy, nil); err != nil {
			return fmt.Errorf("updating edge router policy: %w", err)
		}
		return nil
	}
	if _, err := c.create(ctx, "edge-router-policies", policy); err != nil {
		// Another controller may have created it meanwhile; the name is unique.
		if again, lerr := c.list(ctx, "edge-router-policies", fmt.Sprintf("name=%q", baselinePolicy)); lerr == nil && len(again) > 0 {
			return nil
		}
		return fmt.Errorf("creating edge router policy: %w", err)
	}
	return nil
}

// CreateIdentity creates an identity to be enrolled with a one-time token and returns its id
// and enrollment JWT. The private key is made where the JWT is redeemed, never here.
func (c *Client) CreateIdentity(ctx context.Context, name string, roleAttributes []string, tags map[string]string) (id, enrollmentJWT string, err error) {
	if roleAttributes == nil {
		roleAttributes = []string{}
	}
	id, err = c.create(ctx, "identities", map[string]any{
		"name":           name,
		"type":           "Default",
		"isAdmin":        false,
		"roleAttributes": roleAttributes,
		"tags":           c.tagged(tags),
		"enrollment":     map[string]any{"ott": true},
	})
	if err != nil {
		return "", "", fmt.Errorf("creating identity %q: %w", name, err)
	}
	var out struct {
		Data struct {
			Enrollment struct {
				OTT struct {
					JWT string `json:"jwt"`
				} `json:"ott"`
			} `json:"enrollment"`
		} `json:"data"`
	}
	err = c.call(ctx, http.MethodGet, "identities/"+url.PathEscape(id), nil, &out)
	if err == nil && out.Data.Enrollment.OTT.JWT == "" {
		err = errors.New("identity has no one-time enrollment token")
	}
	if err != nil {
		c.cleanup(ctx, "identities", id)
		return "", "", fmt.Errorf("reading enrollment of identity %q: %w", name, err)
	}
	return id, out.Data.Enrollment.OTT.JWT, nil
}

// SetIdentityRoles makes roles the role attributes of the identity id.
func (c *Client) SetIdentityRoles(ctx context.Context, id string, roles []string) error {
	if roles == nil {
		roles = []string{}
	}
	if err := c.call(ctx, http.MethodPatch, "identities/"+url.PathEscape(id), map[string]any{"roleAttributes": roles}, nil); err != nil {
		return fmt.Errorf("setting the roles of identity %s: %w", id, err)
	}
	return nil
}

// FrontendIdentityRoles returns the role attributes of every frontend
// identity of this deployment, by identity id, for reconciliation.
func (c *Client) FrontendIdentityRoles(ctx context.Context) (map[string][]string, error) {
	ids, err := c.list(ctx, "identities", c.kindFilter("frontend"))
	if err != nil {
		return nil, fmt.Errorf("listing frontend identities: %w", err)
	}
	roles := make(map[string][]string, len(ids))
	for _, id := range ids {
		roles[id.ID] = id.RoleAttributes
	}
	return roles, nil
}

// DeleteIdentity deletes the identity id; one that is already gone is fine.
func (c *Client) DeleteIdentity(ctx context.Context, id string) error {
	if err := c.remove(ctx, "identities", id); err != nil {
		return fmt.Errorf("deleting identity %s: %w", id, err)
	}
	return nil
}

// CreateShareService creates the service of a share, named after shareToken and encrypted end
// to end, with a Bind policy for bindIdentityRoles (see BindRoles), a Dial policy for
// dialIdentityRoles (such as "#portico-frontend" or "@<id>") and a service-edge-router policy
// for all routers. Every object is tagged with the token. On failure it removes what it made.
func (c *Client) CreateShareService(ctx context.Context, shareToken string, bindIdentityRoles, dialIdentityRoles []string) (serviceID string, err error) {
	if !safeToken.MatchString(shareToken) {
		return "", fmt.Errorf("creating share service: invalid share token %q", shareToken)
	}
	if len(bindIdentityRoles) == 0 {
		return "", errors.New("creating share service: no identity to bind it")
	}
	if dialIdentityRoles == nil {
		dialIdentityRoles = []string{}
	}
	tags := c.tagged(map[string]string{tagPortico: "share", tagShare: shareToken})

	type made struct{ collection, id string }
	var done []made
	defer func() {
		if err != nil {
			for i := len(done) - 1; i >= 0; i-- {
				c.cleanup(ctx, done[i].collection, done[i].id)
			}
		}
	}()
	step := func(what, collection string, body map[string]any) (string, error) {
		body["tags"] = tags
		id, err := c.create(ctx, collection, body)
		if err != nil {
			return "", fmt.Errorf("creating %s for share %s: %w", what, shareToken, err)
		}
		done = append(done, made{collection, id})
		return id, nil
	}

	serviceID, err = step("service", "services", map[string]any{
		"name":               shareToken,
		"encryptionRequired": true,
	})
	if err != nil {
		return "", err
	}
	svcRole := []string{"@" + serviceID}
	if _, err = step("bind policy", "service-policies", map[string]any{
		"name":          shareToken + "-bind",
		"type":          "Bind",
		"semantic":      "AnyOf",
		"serviceRoles":  svcRole,
		"identityRoles": bindIdentityRoles,
	}); err != nil {
		return "", err
	}
	if _, err = step("dial policy", "service-policies", map[string]any{
		"name":          shareToken + "-dial",
		"type":          "Dial",
		"semantic":      "AnyOf",
		"serviceRoles":  svcRole,
		"identityRoles": dialIdentityRoles,
	}); err != nil {
		return "", err
	}
	if _, err = step("service edge router policy", "service-edge-router-policies", map[string]any{
		"name":            shareToken,
		"semantic":        "AnyOf",
		"serviceRoles":    svcRole,
		"edgeRouterRoles": []string{"#all"},
	}); err != nil {
		return "", err
	}
	return serviceID, nil
}

// IdentityRoles are the role references that select exactly the identities ids, for a
// Dial policy.
func IdentityRoles(ids []string) []string {
	roles := make([]string, len(ids))
	for i, id := range ids {
		roles[i] = "@" + id
	}
	return roles
}

// SetShareDialRoles makes the share's Dial policy select exactly identityRoles (such as
// "@<id>"), which may be none. The share's other objects are left alone.
func (c *Client) SetShareDialRoles(ctx context.Context, shareToken string, identityRoles []string) error {
	p, err := c.dialPolicy(ctx, shareToken)
	if err != nil {
		return err
	}
	if identityRoles == nil {
		identityRoles = []string{}
	}
	if err := c.call(ctx, http.MethodPatch, "service-policies/"+url.PathEscape(p.ID), map[string]any{"identityRoles": identityRoles}, nil); err != nil {
		return fmt.Errorf("setting the dial roles of share %s: %w", shareToken, err)
	}
	return nil
}

// ShareDialRoles returns the identity roles of the share's Dial policy.
func (c *Client) ShareDialRoles(ctx context.Context, shareToken string) ([]string, error) {
	p, err := c.dialPolicy(ctx, shareToken)
	return p.IdentityRoles, err
}

// dialPolicy finds the share's Dial policy by its name and its tag.
func (c *Client) dialPolicy(ctx context.Context, shareToken string) (entity, error) {
	if !safeToken.MatchString(shareToken) {
		return entity{}, fmt.Errorf("finding dial policy: invalid share token %q", shareToken)
	}
	found, err := c.list(ctx, "service-policies", fmt.Sprintf(`name = "%s-dial" and %s`, shareToken, shareFilter(shareToken)))
	if err != nil {
		return entity{}, fmt.Errorf("finding the dial policy of share %s: %w", shareToken, err)
	}
	if len(found) != 1 {
		return entity{}, fmt.Errorf("share %s has %d dial policies, want 1", shareToken, len(found))
	}
	return found[0], nil
}

// shareCollections are the collections that hold a share's objects, policies before the
// service they point at.
var shareCollections = []string{"service-policies", "service-edge-router-policies", "services"}

// DeleteShareService removes every object tagged with shareToken. Objects already gone are fine.
func (c *Client) DeleteShareService(ctx context.Context, shareToken string) error {
	if !safeToken.MatchString(shareToken) {
		return fmt.Errorf("deleting share service: invalid share token %q", shareToken)
	}
	for _, coll := range shareCollections {
		objs, err := c.shareObjects(ctx, coll, shareToken)
		if err != nil {
			return fmt.Errorf("deleting share %s: listing %s: %w", shareToken, coll, err)
		}
		for _, o := range objs {
			if err := c.remove(ctx, coll, o.ID); err != nil {
				return fmt.Errorf("deleting share %s: removing %s %s: %w", shareToken, coll, o.ID, err)
			}
		}
	}
	return nil
}

// shareObjects lists the objects of collection tagged with shareToken.
func (c *Client) shareObjects(ctx context.Context, collection, shareToken string) ([]entity, error) {
	return c.list(ctx, collection, shareFilter(shareToken))
}

// shareFilter selects the objects tagged with shareToken. `tags.<key> = "<value>"` works on
// v1.6.0 for services and both kinds of policy. A filter on an absent tag key matches nothing
// rather than failing, so the tests check deletions by name as well.
func shareFilter(shareToken string) string {
	return fmt.Sprintf(`tags.%s = "%s"`, tagShare, shareToken)
}

// Terminators returns how many terminators (hosting agents) the service serviceID has.
func (c *Client) Terminators(ctx context.Context, serviceID string) (int, error) {
	if !safeID.MatchString(serviceID) {
		return 0, fmt.Errorf("counting terminators: invalid service id %q", serviceID)
	}
	n, err := c.count(ctx, "terminators", fmt.Sprintf(`service = "%s"`, serviceID))
	if err != nil {
		return 0, fmt.Errorf("counting terminators of service %s: %w", serviceID, err)
	}
	return n, nil
}

// HostedServices returns, for each service that has at least one terminator
// (an agent bound to it), the terminator identities its agents bound with
// ("" for an agent that gave none).
func (c *Client) HostedServices(ctx context.Context) (map[string]map[string]bool, error) {
	terms, err := c.list(ctx, "terminators", "")
	if err != nil {
		return nil, fmt.Errorf("listing terminators: %w", err)
	}
	hosted := make(map[string]map[string]bool, len(terms))
	for _, t := range terms {
		if hosted[t.ServiceID] == nil {
			hosted[t.ServiceID] = map[string]bool{}
		}
		hosted[t.ServiceID][t.Identity] = true
	}
	return hosted, nil
}

// ShareTokens returns the tokens of every share of this deployment that has
// objects on the overlay (a service or any of its policies), for
// reconciliation.
func (c *Client) ShareTokens(ctx context.Context) (map[string]bool, error) {
	tokens := map[string]bool{}
	for _, coll := range shareCollections {
		objs, err := c.list(ctx, coll, c.sharesFilter())
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", coll, err)
		}
		for _, o := range objs {
			if tok, ok := o.Tags[tagShare].(string); ok && tok != "" {
				tokens[tok] = true
			}
		}
	}
	return tokens, nil
}

// DialRolesByShare returns the identity roles of the Dial policy of every share of this
// deployment, by share token, for reconciliation.
func (c *Client) DialRolesByShare(ctx context.Context) (map[string][]string, error) {
	policies, err := c.list(ctx, "service-policies", c.sharesFilter())
	if err != nil {
		return nil, fmt.Errorf("listing service policies: %w", err)
	}
	roles := map[string][]string{}
	for _, p := range policies {
		if tok, ok := p.Tags[tagShare].(string); ok && p.Name == tok+"-dial" {
			roles[tok] = p.IdentityRoles
		}
	}
	return roles, nil
}

// sharesFilter selects the objects of every share of this deployment.
func (c *Client) sharesFilter() string { return c.kindFilter("share") }

// kindFilter selects this deployment's objects tagged portico=kind.
func (c *Client) kindFilter(kind string) string {
	filter := fmt.Sprintf(`tags.%s = "%s"`, tagPortico, kind)
	if c.deployment != "" {
		filter += fmt.Sprintf(` and tags.%s = "%s"`, tagDeployment, c.deployment)
	}
	return filter
}

// tagged adds the deployment's tag to tags.
func (c *Client) tagged(tags map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range tags {
		out[k] = v
	}
	if c.deployment != "" {
		out[tagDeployment] = c.deployment
	}
	return out
}

// cleanup removes an object made by a call that then failed, even if ctx has ended.
func (c *Client) cleanup(ctx context.Context, collection, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	// Best effort: the reconciler removes what a failed cleanup leaves behind.
	_ = c.remove(ctx, collection, id)
}
