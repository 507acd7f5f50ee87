// Package apitypes holds the bodies of the controller's REST API under
// /api/v1: what clients send and what the controller answers. The
// controller's handlers encode them and internal/apiclient decodes them, so
// the contract is written once. Store records never go on the wire: they
// hold what the API does not show, such as OpenZiti ids and secret hashes.
package apitypes

import (
	"encoding/json"
	"time"

	"github.com/porticoproxy/portico/internal/policy"
)

// Error is the body of every error answer.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Version answers GET /version.
type Version struct {
	Version string `json:"version"`
}

// AccountRequest creates an account (admin).
type AccountRequest struct {
	Email string `json:"email"`
}

// Account is a user of the controller; Token comes back only when it is
// created.
type Account struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
	Token     string    `json:"token,omitempty"`
}

// NamespaceRequest creates a namespace (admin).
type NamespaceRequest struct {
	Name string `json:"name"`
	// Open lets every account share in the namespace (the default); a
	// closed one takes only the accounts granted it.
	Open *bool `json:"open,omitempty"`
}

// Namespace is a DNS suffix under which shares get names.
type Namespace struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Open      bool      `json:"open"`
	CreatedAt time.Time `json:"created_at"`
}

// GrantRequest names the account a closed namespace or share is granted to.
type GrantRequest struct {
	Email string `json:"email"`
}

// Grant answers a grant. The answer is the same whether or not an account
// has the email yet.
type Grant struct {
	Namespace string `json:"namespace,omitempty"`
	Share     string `json:"share,omitempty"`
	Email     string `json:"email"`
}

// FrontendRequest creates a frontend record (admin).
type FrontendRequest struct {
	Description string `json:"description"`
	// URLTemplate says how users reach a host through this frontend, such
	// as https://{host}. Default: https://{host}.
	URLTemplate string `json:"url_template"`
}

// Frontend is a frontend record: the instances that share one token and
// OpenZiti identity. Secret and EnrollmentJWT come back only when it is
// created.
type Frontend struct {
	Token       string   `json:"token"`
	Description string   `json:"description"`
	URLTemplate string   `json:"url_template"`
	Revision    int64    `json:"revision"`
	Namespaces  []string `json:"namespaces"`
	// ZitiIdentityID is the frontend's OpenZiti identity, for the operator.
	ZitiIdentityID string    `json:"ziti_identity_id"`
	CreatedAt      time.Time `json:"created_at"`
	Secret         string    `json:"secret,omitempty"`
	EnrollmentJWT  string    `json:"enrollment_jwt,omitempty"`
}

// MapNamespaceRequest makes a frontend serve a namespace (admin).
type MapNamespaceRequest struct {
	Namespace string `json:"namespace"`
}

// MappedNamespace answers a MapNamespaceRequest.
type MappedNamespace struct {
	Frontend     string `json:"frontend"`
	Namespace    string `json:"namespace"`
	MappedShares int    `json:"mapped_shares"`
}

// EnvironmentRequest creates an environment: an agent's machine.
type EnvironmentRequest struct {
	Description string `json:"description"`
	Host        string `json:"host"`
}

// Environment is an agent's machine. EnrollmentJWT comes back only when it
// is created: the agent enrols it on its own machine, so the identity's
// private key never leaves it.
type Environment struct {
	ID            string    `json:"id"`
	Description   string    `json:"description"`
	Host          string    `json:"host"`
	CreatedAt     time.Time `json:"created_at"`
	EnrollmentJWT string    `json:"enrollment_jwt,omitempty"`
}

// ShareRequest asks for a new share.
type ShareRequest struct {
	EnvironmentID string `json:"environment_id"`
	// ShareMode is public (through the frontends, the default) or private
	// (dialled by other environments).
	ShareMode string `json:"share_mode,omitempty"`
	// BackendMode is proxy (the default), web, caddy, tcpTunnel or udpTunnel.
	BackendMode string `json:"backend_mode,omitempty"`
	Target      string `json:"target,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	// Reserved shares keep Name until released. Their target and backend
	// mode may come later, from the agents that serve them.
	Reserved bool           `json:"reserved,omitempty"`
	Name     string         `json:"name,omitempty"`
	Policy   *policy.Policy `json:"policy,omitempty"`
	// Closed private shares admit only the accounts their owner grants.
	Closed bool `json:"closed,omitempty"`
}

// Share is a share with the URLs that reach it.
type Share struct {
	Token         string `json:"token"`
	EnvironmentID string `json:"environment_id"`
	Namespace     string `json:"namespace"`
	Name          string `json:"name"`
	// Host is the share's host name; empty for a private share.
	Host        string `json:"host"`
	ShareMode   string `json:"share_mode"`
	BackendMode string `json:"backend_mode"`
	Target      string `json:"target"`
	Reserved    bool   `json:"reserved"`
	Closed      bool   `json:"closed"`
	// Policy is the access policy the frontends enforce, if any.
	Policy json.RawMessage `json:"policy,omitempty"`
	// FrontendEndpoints are the URLs at which the share is reachable.
	FrontendEndpoints []string  `json:"frontend_endpoints"`
	CreatedAt         time.Time `json:"created_at"`
}

// AgentRequest records an agent that serves a share.
type AgentRequest struct {
	// ID is the terminator identity the agent binds the share's service with.
	ID     string `json:"id"`
	Target string `json:"target"`
}

// AccessRequest lets an environment dial a private share.
type AccessRequest struct {
	// EnvironmentID is the accessor's environment, whose identity will dial.
	EnvironmentID string `json:"environment_id"`
}

// Access is an environment's access to a private share, with what the
// accessor needs to serve it locally.
type Access struct {
	ID            string    `json:"id"`
	ShareToken    string    `json:"share_token"`
	EnvironmentID string    `json:"environment_id"`
	BackendMode   string    `json:"backend_mode"`
	CreatedAt     time.Time `json:"created_at"`
}

// Removed says how many objects a call removed.
type Removed struct {
	Removed int64 `json:"removed"`
}

// DomainRequest attaches a custom domain to a reserved share.
type DomainRequest struct {
	Domain string `json:"domain"`
}

// Domain is a custom domain attached to a reserved share, with the TXT
// record that verifies it.
type Domain struct {
	Name      string    `json:"domain"`
	Share     string    `json:"share"`
	Verified  bool      `json:"verified"`
	TXTName   string    `json:"txt_name"`
	TXTValue  string    `json:"txt_value"`
	CreatedAt time.Time `json:"created_at"`
}

// Overlay says what is wrong with the OpenZiti network for Portico, such as
// edge routers without a fix it needs; empty when nothing is.
type Overlay struct {
	Warnings []string `json:"warnings"`
}

// Controller is a live controller process.
type Controller struct {
	ID          string    `json:"id"`
	APIAddress  string    `json:"api_address"`
	GRPCAddress string    `json:"grpc_address"`
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
}

// Instance is a live frontend instance.
type Instance struct {
	ID              string    `json:"instance"`
	Frontend        string    `json:"frontend"`
	AppliedRevision int64     `json:"applied_revision"`
	Revision        int64     `json:"revision"` // the frontend's revision in the store
	Lag             int64     `json:"lag"`      // how many changes the instance is behind
	Mappings        int64     `json:"mappings"`
	Version         string    `json:"version"`
	Controller      string    `json:"controller"`
	HeartbeatAt     time.Time `json:"heartbeat_at"`
}

// Lease is who runs a singleton worker until when.
type Lease struct {
	Name      string    `json:"name"`
	Holder    string    `json:"holder"`
	ExpiresAt time.Time `json:"expires_at"`
}
