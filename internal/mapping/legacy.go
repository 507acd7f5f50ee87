package mapping

import (
	"bytes"
	"encoding/json"
)

// Upgrade returns m as this version writes it. Controllers before agents
// moved onto the mapping put them in the policy, under "agents"; such a
// mapping may still come from a journal written then, a frontend's cache
// file or a controller not yet upgraded. Upgrade moves them out of the
// policy, which must not hold them (package policy refuses unknown fields).
// Any other mapping comes back unchanged, its policy not re-encoded.
func Upgrade(m Mapping) Mapping {
	if !bytes.Contains(m.Policy, []byte(`"agents"`)) {
		return m
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(m.Policy, &fields); err != nil {
		return m // the policy fails to compile, and the share closed, as before
	}
	raw, ok := fields["agents"]
	if !ok {
		return m // "agents" in a value, not a key
	}
	var agents []string
	if err := json.Unmarshal(raw, &agents); err != nil {
		return m
	}
	delete(fields, "agents")
	m.Agents = agents
	m.Policy = nil
	if len(fields) > 0 {
		m.Policy, _ = json.Marshal(fields) // raw messages from a valid object
	}
	return m
}
