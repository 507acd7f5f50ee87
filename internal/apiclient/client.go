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
	"strings"
	"sync"
	"time"

	"github.com/porticoproxy/portico/internal/status"
)

// Error is an error answer of the API.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code)
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
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
	}
	if len(c.endpoints) == 0 {
		return errors.New("no controller address given")
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
			return decodeAnswer(resp, out)
		}
		errs = append(errs, err)
		// Only a controller that was never reached is safe to try again
		// elsewhere: a request that reached one may have taken effect.
		if !unreached(err) || ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
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
		if json.Unmarshal(raw, apiErr) != nil || apiErr.Message == "" {
			apiErr.Code, apiErr.Message = http.StatusText(resp.StatusCode), strings.TrimSpace(string(raw))
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

// IsStatus reports whether err is an API error with the given status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// Account is a created account; Token is shown only once.
type Account struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Token string `json:"token"`
}

// Namespace is a DNS suffix for share names.
type Namespace struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Frontend is a frontend record; Secret and EnrollmentJWT only come back
// when it is created.
type Frontend struct {
	Token         string   `json:"token"`
	Description   string   `json:"description"`
	URLTemplate   string   `json:"url_template"`
	Revision      int64    `json:"revision"`
	Namespaces    []string `json:"namespaces"`
	Secret        string   `json:"secret,omitempty"`
	EnrollmentJWT string   `json:"enrollment_jwt,omitempty"`
}

// Environment is an agent's machine; EnrollmentJWT only comes back when it
// is created.
type Environment struct {
	ID            string `json:"id"`
	Description   string `json:"description"`
	Host          string `json:"host"`
	EnrollmentJWT string `json:"enrollment_jwt,omitempty"`
}

// ShareRequest asks for a new share.
type ShareRequest struct {
	EnvironmentID string `json:"environment_id"`
	ShareMode     string `json:"share_mode,omitempty"`
	BackendMode   string `json:"backend_mode,omitempty"`
	Target        string `json:"target"`
	Namespace     string `json:"namespace,omitempty"`
}

// Share is a share with the URLs that reach it.
type Share struct {
	Token             string    `json:"token"`
	EnvironmentID     string    `json:"environment_id"`
	Namespace         string    `json:"namespace"`
	Name              string    `json:"name"`
	Host              string    `json:"host"`
	ShareMode         string    `json:"share_mode"`
	BackendMode       string    `json:"backend_mode"`
	Target            string    `json:"target"`
	FrontendEndpoints []string  `json:"frontend_endpoints"`
	CreatedAt         time.Time `json:"created_at"`
}

// CreateAccount creates an account (admin).
func (c *Client) CreateAccount(ctx context.Context, email string) (Account, error) {
	var a Account
	return a, c.do(ctx, http.MethodPost, "/accounts", map[string]string{"email": email}, &a)
}

// CreateNamespace creates a namespace (admin).
func (c *Client) CreateNamespace(ctx context.Context, name string) (Namespace, error) {
	var n Namespace
	return n, c.do(ctx, http.MethodPost, "/namespaces", map[string]string{"name": name}, &n)
}

// Namespaces lists the namespaces.
func (c *Client) Namespaces(ctx context.Context) ([]Namespace, error) {
	var ns []Namespace
	return ns, c.do(ctx, http.MethodGet, "/namespaces", nil, &ns)
}

// CreateFrontend creates a frontend (admin).
func (c *Client) CreateFrontend(ctx context.Context, description, urlTemplate string) (Frontend, error) {
	var f Frontend
	return f, c.do(ctx, http.MethodPost, "/frontends", map[string]string{"description": description, "url_template": urlTemplate}, &f)
}

// Frontends lists the frontends (admin).
func (c *Client) Frontends(ctx context.Context) ([]Frontend, error) {
	var fs []Frontend
	return fs, c.do(ctx, http.MethodGet, "/frontends", nil, &fs)
}

// MapNamespace makes a frontend serve a namespace (admin).
func (c *Client) MapNamespace(ctx context.Context, frontend, namespace string) error {
	return c.do(ctx, http.MethodPost, "/frontends/"+frontend+"/namespaces", map[string]string{"namespace": namespace}, nil)
}

// CreateEnvironment creates an environment for the account.
func (c *Client) CreateEnvironment(ctx context.Context, description, host string) (Environment, error) {
	var e Environment
	return e, c.do(ctx, http.MethodPost, "/environments", map[string]string{"description": description, "host": host}, &e)
}

// DeleteEnvironment deletes an environment and its shares.
func (c *Client) DeleteEnvironment(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/environments/"+id, nil, nil)
}

// CreateShare creates a share.
func (c *Client) CreateShare(ctx context.Context, req ShareRequest) (Share, error) {
	var s Share
	return s, c.do(ctx, http.MethodPost, "/shares", req, &s)
}

// Shares lists the account's shares.
func (c *Client) Shares(ctx context.Context) ([]Share, error) {
	var ss []Share
	return ss, c.do(ctx, http.MethodGet, "/shares", nil, &ss)
}

// DeleteShare deletes a share.
func (c *Client) DeleteShare(ctx context.Context, token string) error {
	return c.do(ctx, http.MethodDelete, "/shares/"+token, nil, nil)
}

// Controllers lists the live controllers.
func (c *Client) Controllers(ctx context.Context) ([]status.Controller, error) {
	var cs []status.Controller
	return cs, c.do(ctx, http.MethodGet, "/controllers", nil, &cs)
}

// Instances lists the live frontend instances (admin).
func (c *Client) Instances(ctx context.Context) ([]status.Instance, error) {
	var ins []status.Instance
	return ins, c.do(ctx, http.MethodGet, "/frontends/instances", nil, &ins)
}

// Leases lists the singleton workers' leases (admin).
func (c *Client) Leases(ctx context.Context) ([]status.Lease, error) {
	var ls []status.Lease
	return ls, c.do(ctx, http.MethodGet, "/leases", nil, &ls)
}
