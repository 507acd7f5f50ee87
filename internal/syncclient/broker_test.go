package syncclient

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller/store"
	"github.com/porticoproxy/portico/internal/broker"
	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/routes"
	"github.com/porticoproxy/portico/internal/testenv"
)

// brokered is a controller that publishes through RabbitMQ, as a cluster does.
type brokered struct {
	*controller
	url string
	pub *broker.Publisher
}

func newBrokered(t *testing.T) *brokered {
	b := &brokered{controller: newController(t, nil), url: testenv.RabbitMQ(t)}
	b.pub = broker.NewPublisher(broker.PublisherConfig{URL: b.url}, zap.NewNop())
	t.Cleanup(b.pub.Close)
	return b
}

// share commits a share and publishes its changes to the broker only.
func (b *brokered) share(t *testing.T, tok string) {
	t.Helper()
	changes, err := b.st.CreateShare(context.Background(), store.Share{Token: tok, AccountID: "acct", EnvironmentID: "env", NamespaceID: "ns",
		Namespace: b.ns.Name, Name: tok, ShareMode: "public", BackendMode: "proxy", Target: "http://x", ZitiServiceID: "s", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	b.publish(changes)
}

func (b *brokered) unshare(t *testing.T, tok string) {
	t.Helper()
	_, changes, err := b.st.DeleteShare(context.Background(), "acct", tok)
	if err != nil {
		t.Fatal(err)
	}
	b.publish(changes)
}

func (b *brokered) publish(changes []store.FrontendChange) {
	for _, c := range changes {
		b.pub.Publish(c.Frontend, []mapping.Change{c.Change})
	}
}

func (b *brokered) follow(t *testing.T) (*routes.Table, *Client) {
	return follow(t, Config{Controllers: []string{b.addr}, ResyncInterval: time.Hour, Broker: broker.ConsumerConfig{URL: b.url}})
}

func TestBrokerDeliversChanges(t *testing.T) {
	b := newBrokered(t)
	b.controller.share(t, "before", false)
	table, cl := b.follow(t)
	testenv.Eventually(t, "the first pull", 5*time.Second, func() bool { return has(table, "before") })
	testenv.Eventually(t, "the consumer to connect", 5*time.Second, func() bool {
		st := cl.Status()
		return st.Broker != nil && st.Broker.Connected
	})
	b.share(t, "after")
	testenv.Eventually(t, "a change through the broker", 3*time.Second, func() bool { return has(table, "after") })
	b.unshare(t, "before")
	testenv.Eventually(t, "a delete through the broker", 3*time.Second, func() bool { return !has(table, "before") })
}

// TestMalformedBrokerMessageResyncs: garbage on the exchange is dropped
// without a panic, and the pull it triggers brings in a change whose own
// message was lost.
func TestMalformedBrokerMessageResyncs(t *testing.T) {
	b := newBrokered(t)
	table, cl := b.follow(t)
	testenv.Eventually(t, "the consumer to connect", 5*time.Second, func() bool {
		st := cl.Status()
		return table.Loaded() && st.Broker != nil && st.Broker.Connected
	})
	b.controller.share(t, "lost", false) // committed, never published
	testenv.PublishRaw(t, b.url, broker.DefaultExchange, "fe", "garbage", `{}`,
		`{"frontend":"fe","revision":-1,"op":"upsert","name":"x","share":"x"}`,
		`{"frontend":"fe","revision":2,"op":"explode","name":"x","share":"x"}`)
	testenv.Eventually(t, "the resync after a malformed message", 5*time.Second, func() bool { return has(table, "lost") })
	testenv.Eventually(t, "the consumer to count the malformed messages", 5*time.Second, func() bool { return cl.Status().Broker.Malformed == 4 })
	if has(table, "x") {
		t.Error("a malformed message was applied")
	}
}

// TestBrokerOutageConverges: while the broker refuses connections changes go
// on, deletes included; once it is back the table converges.
func TestBrokerOutageConverges(t *testing.T) {
	b := newBrokered(t)
	b.share(t, "a")
	b.share(t, "b")
	table, _ := follow(t, Config{Controllers: []string{b.addr}, ResyncInterval: time.Second, Broker: broker.ConsumerConfig{URL: b.url}})
	testenv.Eventually(t, "the first pull", 5*time.Second, func() bool { return has(table, "a") && has(table, "b") })

	restore := testenv.RabbitMQOutage(t, b.url)
	b.share(t, "during")
	b.unshare(t, "a")
	time.Sleep(500 * time.Millisecond)
	restore()
	testenv.Eventually(t, "convergence after the outage", 5*time.Second, func() bool {
		return has(table, "during") && !has(table, "a") && has(table, "b") && table.Revision() == 4
	})
}

// TestForgedBrokerMessageIsNotTrusted: whoever can publish to the exchange
// can send a well-formed change with the next revision. The frontend must
// not take its content: it learns changes from the authenticated journal,
// so the forged upsert neither reroutes a host nor makes the genuine change
// of that revision look like a duplicate.
func TestForgedBrokerMessageIsNotTrusted(t *testing.T) {
	b := newBrokered(t)
	b.share(t, "a") // revision 1
	table, cl := b.follow(t)
	testenv.Eventually(t, "the consumer to connect", 5*time.Second, func() bool {
		st := cl.Status()
		return has(table, "a") && st.Broker != nil && st.Broker.Connected
	})
	testenv.PublishRaw(t, b.url, broker.DefaultExchange, "fe",
		`{"frontend":"fe","revision":2,"op":"upsert","name":"a.share.test","share":"evil"}`)
	b.share(t, "b") // the genuine revision 2
	testenv.Eventually(t, "the genuine change", 5*time.Second, func() bool { return has(table, "b") })
	if r, _ := table.Lookup("a.share.test"); r == nil || r.Share != "a" {
		t.Fatalf("a.share.test routes to %+v after a forged message, want share a", r)
	}
}
