// Package zitiauto automates the OpenZiti network for the controller through the Edge
// Management API: the identities of environments and frontends, and per share a service with
// its policies.
//
// It speaks JSON over net/http instead of using the generated go-swagger client: Portico needs
// a handful of calls, which take far less code this way, and the API's own error code and
// message reach our errors unchanged.
package zitiauto

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/openziti/sdk-golang/ziti"
)

// managementPath is the Edge Management API's root below the controller's address.
const managementPath = "/edge/management/v1"

// maxBody bounds what is read of one API answer; a page of 500 policies is well below it.
const maxBody = 32 << 20

// Config says how to reach the Edge Management API.
type Config struct {
	// ManagementURLs are OpenZiti controllers' addresses, such as
	// https://127.0.0.1:1280, with or without the /edge/management/v1
	// suffix: one, or the members of a cluster. The client learns the rest
	// of a cluster's members from the first that answers, and fails over
	// among them.
	ManagementURLs []string
	// Username and Password are an admin's credentials (updb).
	Username, Password string
	// CAFile is a PEM bundle to verify the controllers with. If empty, the
	// well-known CAs of the first controller that answers are fetched,
	// unverified, as the ziti CLI does at login; a cluster's members share
	// one root CA.
	CAFile string
	// Deployment tags every object this client makes, so that deployments sharing one
	// OpenZiti network tell their objects apart; ShareTokens lists only its own.
	Deployment string
	// FailoverFor bounds how long one call goes on trying other members
	// and waiting out a leader election; default 15 s.
	FailoverFor time.Duration
}

// DefaultFailoverFor is Config.FailoverFor's default: longer than an
// election (about 4 s), short enough for an API caller to wait.
const DefaultFailoverFor = 15 * time.Second

// Client calls the Edge Management API of a controller or a cluster. It
// authenticates lazily, to each member it uses, and is safe for concurrent
// use.
type Client struct {
	username, password string
	deployment         string
	failoverFor        time.Duration
	roots              *x509.CertPool // from CAFile; nil until the well-known CAs are fetched

	initMu sync.Mutex
	hc     *http.Client

	// members are the controllers, the configured ones first; preferred is
	// the one that answered last, which calls try first.
	membersMu  sync.Mutex
	members    []*member
	preferred  int
	discovered bool
}

// New returns a client for cfg. It does no network I/O.
func New(cfg Config) (*Client, error) {
	if len(cfg.ManagementURLs) == 0 {
		return nil, errors.New("ziti management: a management url is required")
	}
	if cfg.Username == "" {
		return nil, errors.New("ziti management: username is required")
	}
	if cfg.Deployment != "" && !safeToken.MatchString(cfg.Deployment) {
		return nil, fmt.Errorf("invalid deployment id %q", cfg.Deployment)
	}
	c := &Client{
		username:    cfg.Username,
		password:    cfg.Password,
		deployment:  cfg.Deployment,
		failoverFor: cmp.Or(cfg.FailoverFor, DefaultFailoverFor),
	}
	for _, raw := range cfg.ManagementURLs {
		m, err := newMember(raw)
		if err != nil {
			return nil, err
		}
		if c.indexOf(m.ctrl) < 0 {
			c.members = append(c.members, m)
		}
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading ziti ca file: %w", err)
		}
		c.roots = x509.NewCertPool()
		if !c.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ziti ca file %s: no PEM certificates", cfg.CAFile)
		}
	}
	return c, nil
}

// APIError is an error answer of the Edge Management API.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the API's error code, such as NOT_FOUND or COULD_NOT_VALIDATE.
	Code string
	// Message is the API's message, with its cause when it gives one.
	Message string
}

func (e *APIError) Error() string {
	if e.Code == "" && e.Message == "" {
		return fmt.Sprintf("ziti api: %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("ziti api: %d %s: %s", e.Status, e.Code, e.Message)
}

// isNotFound reports whether err is the API's 404.
func isNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// httpClient returns the HTTP client, first fetching the CAs of a member
// that answers if CAFile was empty. A failed fetch is not cached, so a
// controller that was down is tried again.
func (c *Client) httpClient() (*http.Client, error) {
	c.initMu.Lock()
	defer c.initMu.Unlock()
	if c.hc != nil {
		return c.hc, nil
	}
	roots := c.roots
	if roots == nil {
		var errs []error
		for _, m := range c.snapshot() {
			pool, err := ziti.GetControllerWellKnownCaPool(m.ctrl)
			if err == nil {
				roots = pool
				break
			}
			errs = append(errs, err)
		}
		if roots == nil {
			return nil, fmt.Errorf("fetching ziti controller cas: %w", errors.Join(errs...))
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	c.hc = &http.Client{Transport: tr, Timeout: requestTimeout}
	return c.hc, nil
}

// requestTimeout bounds one exchange with one member, so that a member that
// hangs is left for another.
const requestTimeout = 20 * time.Second

// session returns m's API session token, authenticating if there is none
// or if the current one is stale (the token a request was just refused
// with). Tokens are per member: another member refuses it.
func (c *Client) session(ctx context.Context, hc *http.Client, m *member, stale string) (string, error) {
	m.authMu.Lock()
	defer m.authMu.Unlock()
	if m.token != "" && m.token != stale {
		return m.token, nil
	}
	in := map[string]string{"username": c.username, "password": c.password}
	var out struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	status, body, err := c.send(ctx, hc, m.base+"/authenticate?method=password", http.MethodPost, "", in)
	if err == nil {
		err = decode(status, body, &out)
	}
	if err != nil {
		return "", fmt.Errorf("authenticating to ziti at %s as %q: %w", m.ctrl, c.username, err)
	}
	if out.Data.Token == "" {
		return "", fmt.Errorf("authenticating to ziti at %s as %q: no session token in the answer", m.ctrl, c.username)
	}
	m.token = out.Data.Token
	return m.token, nil
}

// call sends one API request and decodes the answer's JSON into out (if
// not nil), failing over among the members (failover.go).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	hc, err := c.httpClient()
	if err != nil {
		return err
	}
	err = c.failover(ctx, method, func(m *member) error {
		return c.callMember(ctx, hc, m, method, path, in, out)
	})
	if err == nil {
		c.discover(ctx, hc)
	}
	return err
}

// callMember is one call on one member. It authenticates first if needed,
// and once more if the session was refused (it expired).
func (c *Client) callMember(ctx context.Context, hc *http.Client, m *member, method, path string, in, out any) error {
	return c.callURL(ctx, hc, m, m.base+"/"+path, method, in, out)
}

// callURL is callMember for any URL of m's, such as its fabric API, which
// takes the same session.
func (c *Client) callURL(ctx context.Context, hc *http.Client, m *member, target, method string, in, out any) error {
	token, err := c.session(ctx, hc, m, "")
	if err != nil {
		return err
	}
	status, body, err := c.send(ctx, hc, target, method, token, in)
	if err == nil && status == http.StatusUnauthorized {
		if token, err = c.session(ctx, hc, m, token); err != nil {
			return err
		}
		status, body, err = c.send(ctx, hc, target, method, token, in)
	}
	if err != nil {
		return err
	}
	return decode(status, body, out)
}

// send does one HTTP exchange with target and returns the status and the body.
func (c *Client) send(ctx context.Context, hc *http.Client, target, method, token string, in any) (int, []byte, error) {
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, fmt.Errorf("encoding request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		// The controller refuses "Authorization: Bearer" for API sessions.
		req.Header.Set("zt-session", token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("reading answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// decode turns a non-2xx answer into an *APIError and otherwise unmarshals body into out.
func decode(status int, body []byte, out any) error {
	if status < 200 || status > 299 {
		var env struct {
			Error struct {
				Code         string          `json:"code"`
				Message      string          `json:"message"`
				Cause        json.RawMessage `json:"cause"`
				CauseMessage string          `json:"causeMessage"`
			} `json:"error"`
		}
		_ = json.Unmarshal(body, &env)
		msg := env.Error.Message
		if cause := causeText(env.Error.Cause, env.Error.CauseMessage); cause != "" {
			msg += ": " + cause
		}
		return &APIError{Status: status, Code: env.Error.Code, Message: msg}
	}
	if out == nil || len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decoding answer: %w", err)
	}
	return nil
}

// causeText renders the cause of an API error. Validation errors only say "see cause" in
// their message and name the field and the reason in the cause.
func causeText(raw json.RawMessage, causeMessage string) string {
	var c struct {
		Field   string `json:"field"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	switch {
	case json.Unmarshal(raw, &c) != nil:
		return causeMessage
	case c.Reason != "" && c.Field != "":
		return c.Field + ": " + c.Reason
	case c.Reason != "":
		return c.Reason
	case c.Message != "":
		return c.Message
	}
	return causeMessage
}

// entity is what Portico reads of any listed API object.
type entity struct {
	ID   string         `json:"id"`
	Name string         `json:"name"`
	Tags map[string]any `json:"tags"`
	// ServiceID and Identity (the terminator identity an agent bound with)
	// are set on terminators.
	ServiceID string `json:"serviceId"`
	Identity  string `json:"identity"`
	// IdentityRoles are set on service policies, RoleAttributes on identities.
	IdentityRoles  []string `json:"identityRoles"`
	RoleAttributes []string `json:"roleAttributes"`
	// IsOnline and VersionInfo are set on edge routers.
	IsOnline    bool `json:"isOnline"`
	VersionInfo struct {
		Version  string `json:"version"`
		Revision string `json:"revision"`
	} `json:"versionInfo"`
}

// create posts in to collection and returns the new object's id.
func (c *Client) create(ctx context.Context, collection string, in any) (string, error) {
	var out struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := c.call(ctx, http.MethodPost, collection, in, &out); err != nil {
		return "", err
	}
	if out.Data.ID == "" {
		return "", errors.New("no id in the answer")
	}
	return out.Data.ID, nil
}

// remove deletes one object; one that is already gone is fine.
func (c *Client) remove(ctx context.Context, collection, id string) error {
	err := c.call(ctx, http.MethodDelete, collection+"/"+url.PathEscape(id), nil, nil)
	if isNotFound(err) {
		return nil
	}
	return err
}

// list returns every object of collection that matches filter (Ziti's filter language), page
// by page.
func (c *Client) list(ctx context.Context, collection, filter string) ([]entity, error) {
	const pageSize = 500 // the API's largest page
	var all []entity
	for offset := 0; ; offset += pageSize {
		q := url.Values{"limit": {fmt.Sprint(pageSize)}, "offset": {fmt.Sprint(offset)}}
		if filter != "" {
			q.Set("filter", filter)
		}
		var page struct {
			Data []entity `json:"data"`
			Meta struct {
				Pagination struct {
					TotalCount int `json:"totalCount"`
				} `json:"pagination"`
			} `json:"meta"`
		}
		if err := c.call(ctx, http.MethodGet, collection+"?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		if len(page.Data) < pageSize || len(all) >= page.Meta.Pagination.TotalCount {
			return all, nil
		}
	}
}

// count returns how many objects of collection match filter, without listing them.
func (c *Client) count(ctx context.Context, collection, filter string) (int, error) {
	q := url.Values{"filter": {filter}, "limit": {"1"}}
	var page struct {
		Meta struct {
			Pagination struct {
				TotalCount int `json:"totalCount"`
			} `json:"pagination"`
		} `json:"meta"`
	}
	if err := c.call(ctx, http.MethodGet, collection+"?"+q.Encode(), nil, &page); err != nil {
		return 0, err
	}
	return page.Meta.Pagination.TotalCount, nil
}
