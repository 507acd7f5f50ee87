// Package apiclient is the Go client of the controller's REST API, used by
// the CLI and the agent.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/porticoproxy/portico/internal/apitypes"
)

// Error is an error answer of the API, with its HTTP status.
type Error struct {
	Status int
	Body   apitypes.Error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d %s)", e.Body.Message, e.Status, e.Body.Code)
}

// Client calls the controllers' API with one token, failing over among
// several controllers.
type Client struct {
	endpoints []string
	token     string
	hc        *http.Client

	mu   sync.Mutex
	next int // the endpoint that answered last, tried first
}

// New returns a client for the API at endpoints (such as
// http://127.0.0.1:18080; several may be given, comma-separated) that sends
// token, an account's or the admin's.
func New(endpoints, token string) *Client {
	c := &Client{token: token, hc: &http.Client{Timeout: 60 * time.Second}}
	for _, e := range strings.Split(endpoints, ",") {
		if e = strings.TrimRight(strings.TrimSpace(e), "/"); e != "" {
			c.endpoints = append(c.endpoints, e)
		}
	}
	return c
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	_, err := c.exchange(ctx, method, path, in, out)
	return err
}

// exchange is do that also returns the answer's header.
func (c *Client) exchange(ctx context.Context, method, path string, in, out any) (http.Header, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("encoding request: %w", err)
		}
	}
	if len(c.endpoints) == 0 {
		return nil, errors.New("no controller address given")
	}
	c.mu.Lock()
	first := c.next
	c.mu.Unlock()
	var errs []error
	for i := range c.endpoints {
		n := (first + i) % len(c.endpoints)
		resp, err := c.send(ctx, c.endpoints[n], method, path, body)
		if err == nil {
			c.mu.Lock()
			c.next = n
			c.mu.Unlock()
			return resp.Header, decodeAnswer(resp, out)
		}
		errs = append(errs, err)
		// Only a controller that was never reached is safe to try again
		// elsewhere: a request that reached one may have taken effect.
		if !unreached(err) || ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (c *Client) send(ctx context.Context, endpoint, method, path string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint+"/api/v1"+path, rd)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling the controller at %s: %w", endpoint, err)
	}
	return resp, nil
}

// unreached reports whether err means the request never got to a
// controller: the connection could not be made.
func unreached(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func decodeAnswer(resp *http.Response, out any) error {
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the controller's answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		apiErr := &Error{Status: resp.StatusCode}
		if json.Unmarshal(raw, &apiErr.Body) != nil || apiErr.Body.Message == "" {
			apiErr.Body = apitypes.Error{Code: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(raw))}
		}
		return apiErr
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decoding the controller's answer: %w", err)
		}
	}
	return nil
}

// IsStatus reports whether err is an API error with the given apitypes.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// CreateAccount creates an account (admin).
func (c *Client) CreateAccount(ctx context.Context, email string) (apitypes.Account, error) {
	var a apitypes.Account
	return a, c.do(ctx, http.MethodPost, "/accounts", apitypes.AccountRequest{Email: email}, &a)
}

// CreateNamespace creates a namespace (admin). A closed one takes shares
// only from the accounts granted it.
func (c *Client) CreateNamespace(ctx context.Context, name string, open bool) (apitypes.Namespace, error) {
	var n apitypes.Namespace
	return n, c.do(ctx, http.MethodPost, "/namespaces", apitypes.NamespaceRequest{Name: name, Open: &open}, &n)
}

// GrantNamespace lets an account share in a closed namespace (admin).
func (c *Client) GrantNamespace(ctx context.Context, namespace, email string) error {
	return c.do(ctx, http.MethodPost, "/namespaces/"+url.PathEscape(namespace)+"/grants", apitypes.GrantRequest{Email: email}, nil)
}

// Namespaces lists the namespaces.
func (c *Client) Namespaces(ctx context.Context) ([]apitypes.Namespace, error) {
	var ns []apitypes.Namespace
	return ns, c.do(ctx, http.MethodGet, "/namespaces", nil, &ns)
}

// CreateFrontend creates a frontend (admin).
func (c *Client) CreateFrontend(ctx context.Context, description, urlTemplate string) (apitypes.Frontend, error) {
	var f apitypes.Frontend
	return f, c.do(ctx, http.MethodPost, "/frontends", apitypes.FrontendRequest{Description: description, URLTemplate: urlTemplate}, &f)
}

// Frontends lists the frontends (admin).
func (c *Client) Frontends(ctx context.Context) ([]apitypes.Frontend, error) {
	var fs []apitypes.Frontend
	return fs, c.do(ctx, http.MethodGet, "/frontends", nil, &fs)
}

// MapNamespace makes a frontend serve a namespace (admin).
func (c *Client) MapNamespace(ctx context.Context, frontend, namespace string) error {
	return c.do(ctx, http.MethodPost, "/frontends/"+frontend+"/namespaces", apitypes.MapNamespaceRequest{Namespace: namespace}, nil)
}

// CreateEnvironment creates an environment for the account.
func (c *Client) CreateEnvironment(ctx context.Context, description, host string) (apitypes.Environment, error) {
	var e apitypes.Environment
	return e, c.do(ctx, http.MethodPost, "/environments", apitypes.EnvironmentRequest{Description: description, Host: host}, &e)
}

// DeleteEnvironment deletes an environment and its shares.
func (c *Client) DeleteEnvironment(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/environments/"+id, nil, nil)
}

// CreateShare creates a share.
func (c *Client) CreateShare(ctx context.Context, req apitypes.ShareRequest) (apitypes.Share, error) {
	var s apitypes.Share
	return s, c.do(ctx, http.MethodPost, "/shares", req, &s)
}

// Shares lists the account's shares.
func (c *Client) Shares(ctx context.Context) ([]apitypes.Share, error) {
	var all []apitypes.Share
	for cursor := ""; ; {
		page, next, err := c.SharesPage(ctx, 0, cursor)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == "" {
			return all, nil
		}
		if next == cursor {
			return nil, fmt.Errorf("the controller gave the same next page twice (cursor %q)", next)
		}
		cursor = next
	}
}

// SharesPage lists up to limit of the account's shares (the controller's
// default if 0) from cursor (the first page if empty), and returns the
// cursor of the next page, empty after the last.
func (c *Client) SharesPage(ctx context.Context, limit int, cursor string) ([]apitypes.Share, string, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	path := "/shares"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var ss []apitypes.Share
	h, err := c.exchange(ctx, http.MethodGet, path, nil, &ss)
	if err != nil {
		return nil, "", err
	}
	next, err := nextCursor(h)
	return ss, next, err
}

// nextCursor returns the cursor in a list answer's Link header (rel="next"),
// empty if there is none. The controller writes one link of one form, so a
// few lines read it where a general RFC 8288 parser would be more code.
func nextCursor(h http.Header) (string, error) {
	link := h.Get("Link")
	if link == "" {
		return "", nil
	}
	target, rel, ok := strings.Cut(link, ";")
	target = strings.TrimSpace(target)
	if !ok || strings.TrimSpace(rel) != `rel="next"` || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
		return "", fmt.Errorf("the controller's Link header %q is not a next-page link", link)
	}
	u, err := url.Parse(target[1 : len(target)-1])
	if err != nil || u.Query().Get("cursor") == "" {
		return "", fmt.Errorf("the controller's Link header %q has no cursor", link)
	}
	return u.Query().Get("cursor"), nil
}

// DeleteShare deletes a share.
func (c *Client) DeleteShare(ctx context.Context, token string) error {
	return c.do(ctx, http.MethodDelete, "/shares/"+token, nil, nil)
}

// ShareByName finds one of the account's shares by its name, in namespace
// if that is not empty.
func (c *Client) ShareByName(ctx context.Context, name, namespace string) (apitypes.Share, error) {
	shares, err := c.Shares(ctx)
	if err != nil {
		return apitypes.Share{}, err
	}
	var found []apitypes.Share
	for _, s := range shares {
		if s.Name == strings.ToLower(name) && (namespace == "" || s.Namespace == strings.ToLower(namespace)) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return apitypes.Share{}, fmt.Errorf("you have no share named %q (see portico reserve)", name)
	case 1:
		return found[0], nil
	}
	return apitypes.Share{}, fmt.Errorf("you have shares named %q in several namespaces; pick one with --namespace", name)
}

// AddAgent registers an agent serving a share under its terminator identity.
func (c *Client) AddAgent(ctx context.Context, token, id, target string) error {
	return c.do(ctx, http.MethodPost, "/shares/"+token+"/agents", apitypes.AgentRequest{ID: id, Target: target}, nil)
}

// RemoveAgent takes an agent out of its share's rotation.
func (c *Client) RemoveAgent(ctx context.Context, token, id string) error {
	return c.do(ctx, http.MethodDelete, "/shares/"+token+"/agents/"+id, nil, nil)
}

// CreateAccess lets an environment's identity dial a private share.
func (c *Client) CreateAccess(ctx context.Context, token, environmentID string) (apitypes.Access, error) {
	var a apitypes.Access
	return a, c.do(ctx, http.MethodPost, "/shares/"+url.PathEscape(token)+"/accesses", apitypes.AccessRequest{EnvironmentID: environmentID}, &a)
}

// DeleteAccess ends an access to a private share.
func (c *Client) DeleteAccess(ctx context.Context, token, id string) error {
	return c.do(ctx, http.MethodDelete, "/shares/"+url.PathEscape(token)+"/accesses/"+url.PathEscape(id), nil, nil)
}

// DeleteEnvironmentAccesses ends every access of an environment to a
// private share and returns how many there were.
func (c *Client) DeleteEnvironmentAccesses(ctx context.Context, token, environmentID string) (int, error) {
	var out apitypes.Removed
	q := url.Values{"environment_id": {environmentID}}
	err := c.do(ctx, http.MethodDelete, "/shares/"+url.PathEscape(token)+"/accesses?"+q.Encode(), nil, &out)
	return int(out.Removed), err
}

// GrantShare lets an account access a closed private share.
func (c *Client) GrantShare(ctx context.Context, token, email string) error {
	return c.do(ctx, http.MethodPost, "/shares/"+url.PathEscape(token)+"/grants", apitypes.GrantRequest{Email: email}, nil)
}

// AddDomain attaches a custom domain to a reserved share, unverified.
func (c *Client) AddDomain(ctx context.Context, token, domain string) (apitypes.Domain, error) {
	var d apitypes.Domain
	return d, c.do(ctx, http.MethodPost, "/shares/"+token+"/domains", apitypes.DomainRequest{Domain: domain}, &d)
}

// VerifyDomain asks the controller to check the domain's TXT record.
func (c *Client) VerifyDomain(ctx context.Context, token, domain string) (apitypes.Domain, error) {
	var d apitypes.Domain
	return d, c.do(ctx, http.MethodPost, "/shares/"+token+"/domains/"+url.PathEscape(domain)+"/verify", nil, &d)
}

// Domains lists a share's custom domains.
func (c *Client) Domains(ctx context.Context, token string) ([]apitypes.Domain, error) {
	var ds []apitypes.Domain
	return ds, c.do(ctx, http.MethodGet, "/shares/"+token+"/domains", nil, &ds)
}

// DeleteDomain detaches a custom domain from a share.
func (c *Client) DeleteDomain(ctx context.Context, token, domain string) error {
	return c.do(ctx, http.MethodDelete, "/shares/"+token+"/domains/"+url.PathEscape(domain), nil, nil)
}

// Controllers lists the live controllers.
func (c *Client) Controllers(ctx context.Context) ([]apitypes.Controller, error) {
	var cs []apitypes.Controller
	return cs, c.do(ctx, http.MethodGet, "/controllers", nil, &cs)
}

// OverlayWarnings says what is wrong with the OpenZiti network for Portico, such as edge
// routers without a fix it needs; nil when nothing is.
func (c *Client) OverlayWarnings(ctx context.Context) ([]string, error) {
	var out apitypes.Overlay
	return out.Warnings, c.do(ctx, http.MethodGet, "/overlay", nil, &out)
}

// Instances lists the live frontend instances (admin).
func (c *Client) Instances(ctx context.Context) ([]apitypes.Instance, error) {
	var ins []apitypes.Instance
	return ins, c.do(ctx, http.MethodGet, "/frontends/instances", nil, &ins)
}

// Leases lists the singleton workers' leases (admin).
func (c *Client) Leases(ctx context.Context) ([]apitypes.Lease, error) {
	var ls []apitypes.Lease
	return ls, c.do(ctx, http.MethodGet, "/leases", nil, &ls)
}
