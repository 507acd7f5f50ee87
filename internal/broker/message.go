// This file holds the wire format of one change.

package broker

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/porticoproxy/portico/internal/mapping"
)

// message is the JSON body of one change. The routing key repeats Frontend, but the body
// carries it too, so that a message read out of context still says whose change it is.
type message struct {
	Frontend string          `json:"frontend"`
	Revision int64           `json:"revision"`
	Op       string          `json:"op"`
	Name     string          `json:"name"`
	Share    string          `json:"share,omitempty"`
	Policy   json.RawMessage `json:"policy,omitempty"`
	Agents   []string        `json:"agents,omitempty"`
}

// Encode returns the message body for one change of a frontend's journal. It refuses a
// change that Decode would reject, so a publisher never sends what consumers drop.
func Encode(frontend string, c mapping.Change) ([]byte, error) {
	if err := validate(frontend, c); err != nil {
		return nil, err
	}
	if len(c.Policy) > 0 && !json.Valid(c.Policy) {
		return nil, errors.New("policy is not valid json")
	}
	body, err := json.Marshal(message{
		Frontend: frontend,
		Revision: c.Revision,
		Op:       c.Op.String(),
		Name:     c.Name,
		Share:    c.Share,
		Policy:   c.Policy,
		Agents:   c.Agents,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding change: %w", err)
	}
	return body, nil
}

// Decode parses a message body. It rejects anything that is not one well-formed change:
// broken JSON, a missing frontend, an unknown op, a revision below 1, a missing name, an upsert
// without a share.
// Unknown fields are ignored, so a newer controller may add some. Whether the revision is the
// next one is the caller's apply rule, not Decode's.
func Decode(body []byte) (frontend string, c mapping.Change, err error) {
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		return "", mapping.Change{}, fmt.Errorf("decoding change: %w", err)
	}
	op, err := mapping.ParseOp(m.Op)
	if err != nil {
		return "", mapping.Change{}, err
	}
	policy := []byte(m.Policy)
	if string(policy) == "null" {
		policy = nil
	}
	c = mapping.Change{
		Revision: m.Revision,
		Op:       op,
		Mapping:  mapping.Mapping{Name: m.Name, Share: m.Share, Policy: policy, Agents: m.Agents},
	}
	if err := validate(m.Frontend, c); err != nil {
		return "", mapping.Change{}, err
	}
	return m.Frontend, c, nil
}

// validate holds the rules that Encode and Decode share: a frontend, and
// the rules of every change.
func validate(frontend string, c mapping.Change) error {
	if frontend == "" {
		return errors.New("change without a frontend")
	}
	return c.Validate()
}

// clip shortens a string from a message before it goes into an error, since the body may be
// huge or hostile.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}
