package zitiident

import (
	"encoding/json"
	"slices"
	"testing"
)

// The cluster's members are added to an identity file beside what it
// holds, and a member missing from one listing (it was down) is kept.
func TestWithControllers(t *testing.T) {
	identity := []byte(`{"ztAPI":"https://a:1280/edge/client/v1","id":{"cert":"c","key":"k"},"ztAPIs":["https://a:1280/edge/client/v1"]}`)
	got, err := withControllers(identity, []string{"https://c:1280/edge/client/v1", "https://b:1280/edge/client/v1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err = withControllers(got, []string{"https://b:1280/edge/client/v1"}) // c is down
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		ZtAPI  string            `json:"ztAPI"`
		ZtAPIs []string          `json:"ztAPIs"`
		ID     map[string]string `json:"id"`
	}
	if err := json.Unmarshal(got, &out); err != nil {
		t.Fatal(err)
	}
	want := []string{"https://a:1280/edge/client/v1", "https://b:1280/edge/client/v1", "https://c:1280/edge/client/v1"}
	if !slices.Equal(out.ZtAPIs, want) || out.ZtAPI != "https://a:1280/edge/client/v1" || out.ID["key"] != "k" {
		t.Errorf("identity = %s, want ztAPIs %v and the rest as it was", got, want)
	}
	if _, err := withControllers([]byte("not json"), want); err == nil {
		t.Error("a broken identity file was rewritten")
	}
}
