// Package status holds the records that describe a running deployment: its
// live controllers, its frontend instances and the leases of its singleton
// workers. The controller stores and serves them; the CLI shows them.
package status

import "time"

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
