package broker

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/porticoproxy/portico/internal/mapping"
	"github.com/porticoproxy/portico/internal/testenv"
)

// wait bounds every wait on the broker; nothing here should take more than a few seconds.
const wait = 15 * time.Second

// recorder is a Handler that remembers what it was given.
type recorder struct {
	mu         sync.Mutex
	changes    []mapping.Change
	malformed  []error
	reconnects int
}

func (r *recorder) Apply(c mapping.Change) {
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.mu.Unlock()
}

func (r *recorder) Malformed(err error) {
	r.mu.Lock()
	r.malformed = append(r.malformed, err)
	r.mu.Unlock()
}

func (r *recorder) Reconnected() {
	r.mu.Lock()
	r.reconnects++
	r.mu.Unlock()
}

func (r *recorder) snapshot() (changes []mapping.Change, malformed []error, reconnects int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mapping.Change(nil), r.changes...), append([]error(nil), r.malformed...), r.reconnects
}

// startConsumer runs a consumer until the test ends and waits until its queue is bound. The
// exchange is declared first, as a controller would have.
func startConsumer(t *testing.T, amqpURL, frontend string) (*Consumer, *recorder) {
	t.Helper()
	guest, err := url.Parse(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	guest.User = url.UserPassword("guest", "guest") // the consumer's user may lack configure rights
	testenv.PublishRaw(t, guest.String(), DefaultExchange, "")
	rec := &recorder{}
	logger := zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel)).Named(frontend)
	c := NewConsumer(ConsumerConfig{URL: amqpURL, Frontend: frontend}, rec, logger)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("consumer Run: %v", err)
			}
		case <-time.After(wait):
			t.Errorf("consumer did not stop within %v", wait)
		}
	})
	testenv.Eventually(t, "the consumer to connect", wait, func() bool { _, _, n := rec.snapshot(); return n >= 1 })
	return c, rec
}

func startPublisher(t *testing.T, cfg PublisherConfig) *Publisher {
	t.Helper()
	p := NewPublisher(cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel)).Named("publisher"))
	t.Cleanup(p.Close)
	return p
}

func changes(from, to int64) []mapping.Change {
	var out []mapping.Change
	for r := from; r <= to; r++ {
		name := fmt.Sprintf("n%d.share.example.com", r%7)
		if r%5 == 0 {
			out = append(out, mapping.Change{Revision: r, Op: mapping.Delete, Mapping: mapping.Mapping{Name: name}})
			continue
		}
		out = append(out, mapping.Change{Revision: r, Op: mapping.Upsert, Mapping: mapping.Mapping{
			Name: name, Share: fmt.Sprintf("shr%d", r), Policy: []byte(fmt.Sprintf(`{"rev":%d}`, r))}})
	}
	return out
}

func revisions(cs []mapping.Change) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.Revision
	}
	return out
}

func sameChanges(a, b []mapping.Change) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Revision != b[i].Revision || a[i].Op != b[i].Op || a[i].Name != b[i].Name ||
			a[i].Share != b[i].Share || string(a[i].Policy) != string(b[i].Policy) {
			return false
		}
	}
	return true
}

// rawChannel opens a plain AMQP channel for what the test does behind the package's back.
func rawChannel(t *testing.T, amqpURL string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatalf("dialing rabbitmq: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("opening channel: %v", err)
	}
	if err := declareExchange(ch, DefaultExchange); err != nil {
		t.Fatal(err)
	}
	return ch
}

// durableQueue binds a durable queue to a frontend's token, so that messages published while
// every consumer is away can still be checked.
func durableQueue(t *testing.T, amqpURL, frontend string) string {
	t.Helper()
	ch := rawChannel(t, amqpURL)
	q, err := ch.QueueDeclare("verify-"+frontend, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("declaring queue: %v", err)
	}
	if err := ch.QueueBind(q.Name, frontend, DefaultExchange, false, nil); err != nil {
		t.Fatalf("binding queue: %v", err)
	}
	return q.Name
}

// drain returns the revisions waiting in a queue, once it holds at least want messages.
func drain(t *testing.T, amqpURL, queue string, want int) []int64 {
	t.Helper()
	ch := rawChannel(t, amqpURL)
	var got []int64
	testenv.Eventually(t, fmt.Sprintf("%d messages in %s", want, queue), wait, func() bool {
		for {
			d, ok, err := ch.Get(queue, true)
			if err != nil {
				t.Fatalf("reading %s: %v", queue, err)
			}
			if !ok {
				return len(got) >= want
			}
			if d.DeliveryMode != amqp.Persistent {
				t.Errorf("message not persistent: delivery mode %d", d.DeliveryMode)
			}
			_, c, err := Decode(d.Body)
			if err != nil {
				t.Fatalf("queued message %s: %v", d.Body, err)
			}
			got = append(got, c.Revision)
		}
	})
	return got
}

func TestFanOut(t *testing.T) {
	t.Parallel()
	url := testenv.RabbitMQ(t)
	_, a1 := startConsumer(t, url, "fe-a")
	_, a2 := startConsumer(t, url, "fe-a")
	_, b := startConsumer(t, url, "fe-b")
	p := startPublisher(t, PublisherConfig{URL: url})

	sent := changes(1, 60)
	p.Publish("fe-a", sent[:1])
	p.Publish("fe-a", sent[1:40])
	p.Publish("fe-a", sent[40:])
	for i, r := range []*recorder{a1, a2} {
		testenv.Eventually(t, fmt.Sprintf("consumer %d of fe-a to get every change", i+1), wait, func() bool {
			got, _, _ := r.snapshot()
			return len(got) >= len(sent)
		})
		if got, _, _ := r.snapshot(); !sameChanges(got, sent) {
			t.Errorf("consumer %d of fe-a got revisions %v, want %v", i+1, revisions(got), revisions(sent))
		}
	}

	// A marker for fe-b, published after fe-a's changes, shows fe-b has seen all it will.
	marker := mapping.Change{Revision: 1, Op: mapping.Delete, Mapping: mapping.Mapping{Name: "marker.share.example.com"}}
	p.Publish("fe-b", []mapping.Change{marker})
	testenv.Eventually(t, "fe-b's marker", wait, func() bool { got, _, _ := b.snapshot(); return len(got) >= 1 })
	if got, _, _ := b.snapshot(); !sameChanges(got, []mapping.Change{marker}) {
		t.Errorf("consumer of fe-b got revisions %v, want only its marker", revisions(got))
	}

	testenv.Eventually(t, "the publisher's counters", wait, func() bool { return p.Status().Published == uint64(len(sent)+1) })
	if st := p.Status(); !st.Connected || st.Dropped != 0 || st.Queued != 0 || st.Connections != 1 {
		t.Errorf("publisher status %+v", st)
	}
}

func TestMalformedMessages(t *testing.T) {
	t.Parallel()
	url := testenv.RabbitMQ(t)
	c, rec := startConsumer(t, url, "fe-a")
	ch := rawChannel(t, url)

	bodies := []string{
		"garbage",
		"",
		"\xff\x00\xfe",
		`{}`,
		`{"frontend":"fe-a","revision":3,"op":"rename","name":"a.x","share":"s"}`,
		`{"frontend":"fe-a","revision":-1,"op":"delete","name":"a.x"}`,
		`{"frontend":"fe-a","revision":0,"op":"delete","name":"a.x"}`,
		`{"frontend":"fe-a","revision":4,"op":"upsert","name":"a.x"}`,
		`{"frontend":"fe-other","revision":5,"op":"delete","name":"a.x"}`,
		// Valid: a huge revision is a number like any other; the apply rule judges it.
		`{"frontend":"fe-a","revision":4611686018427387904,"op":"delete","name":"a.x"}`,
		`{"frontend":"fe-a","revision":1,"op":"upsert","name":"a.x","share":"s","policy":{"p":true}}`,
	}
	for _, body := range bodies {
		if err := ch.PublishWithContext(context.Background(), DefaultExchange, "fe-a", false, false,
			amqp.Publishing{Body: []byte(body)}); err != nil {
			t.Fatalf("publishing %q: %v", body, err)
		}
	}
	testenv.Eventually(t, "every message to be handled", wait, func() bool {
		got, bad, _ := rec.snapshot()
		return len(got)+len(bad) >= len(bodies)
	})
	got, bad, _ := rec.snapshot()
	if want := []int64{1 << 62, 1}; fmt.Sprint(revisions(got)) != fmt.Sprint(want) {
		t.Errorf("applied revisions %v, want %v", revisions(got), want)
	}
	if len(bad) != len(bodies)-2 {
		t.Errorf("Malformed called %d times, want %d: %v", len(bad), len(bodies)-2, bad)
	}
	if len(got) == 2 && string(got[1].Policy) != `{"p":true}` {
		t.Errorf("policy = %s", got[1].Policy)
	}
	if st := c.Status(); !st.Connected || st.Connections != 1 || st.Applied != 2 || st.Malformed != uint64(len(bodies)-2) {
		t.Errorf("consumer status %+v", st)
	}
}

func TestReconnectAfterConnectionsClosed(t *testing.T) {
	t.Parallel()
	url := testenv.RabbitMQ(t)
	c, rec := startConsumer(t, url, "fe-a")
	p := startPublisher(t, PublisherConfig{URL: url})
	sent := changes(1, 3)

	p.Publish("fe-a", sent[:1])
	testenv.Eventually(t, "the first change", wait, func() bool { got, _, _ := rec.snapshot(); return len(got) == 1 })

	testenv.CloseRabbitMQConnections(t, url)
	testenv.Eventually(t, "the consumer to reconnect", wait, func() bool {
		_, _, n := rec.snapshot()
		return n >= 2 && c.Status().Connected
	})
	testenv.Eventually(t, "the publisher to reconnect", wait, func() bool {
		st := p.Status()
		return st.Connections >= 2 && st.Connected
	})
	if st := c.Status(); st.LastError == "" || st.LastErrorAt.IsZero() {
		t.Errorf("consumer status %+v does not record the outage", st)
	}

	p.Publish("fe-a", sent[1:])
	testenv.Eventually(t, "the changes published after the outage", wait, func() bool { got, _, _ := rec.snapshot(); return len(got) >= 3 })
	if got, _, _ := rec.snapshot(); !sameChanges(got, sent) {
		t.Errorf("got revisions %v, want %v", revisions(got), revisions(sent))
	}
}

// mustNotBlock bounds a Publish that must return at once. A Publish that blocked would wait
// for the broker (until the outage ends) or a confirm (2 s), so 1 s tells the two apart
// without failing on a slow scheduler, as 50 ms did on 2 loaded cores.
const mustNotBlock = time.Second

func TestPublishDuringOutage(t *testing.T) {
	t.Parallel()
	url := testenv.RabbitMQ(t)
	queue := durableQueue(t, url, "fe-a")
	_, rec := startConsumer(t, url, "fe-a")
	p := startPublisher(t, PublisherConfig{URL: url})
	testenv.Eventually(t, "the publisher to connect", wait, func() bool { return p.Status().Connected })

	restore := testenv.RabbitMQOutage(t, url)
	testenv.Eventually(t, "the publisher to notice the outage", wait, func() bool { return !p.Status().Connected })

	sent := changes(1, 2)
	start := time.Now()
	p.Publish("fe-a", sent)
	if d := time.Since(start); d > mustNotBlock {
		t.Errorf("Publish took %v without a broker; it must not block", d)
	}
	// Give the publisher time to fail at least one reconnect while it holds the changes.
	time.Sleep(500 * time.Millisecond)
	if st := p.Status(); st.Connected || st.Published != 0 || st.Queued != 2 || st.LastError == "" {
		t.Errorf("status during the outage %+v", st)
	}

	restore()
	testenv.Eventually(t, "the held changes to be published", wait, func() bool { return p.Status().Published == 2 })
	if got := drain(t, url, queue, 2); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("queue got revisions %v, want [1 2]", got)
	}
	testenv.Eventually(t, "the consumer to reconnect", wait, func() bool { _, _, n := rec.snapshot(); return n >= 2 })
}

func TestPublisherRetriesUnconfirmed(t *testing.T) {
	t.Parallel()
	url := testenv.RabbitMQ(t)
	queue := durableQueue(t, url, "fe-a")
	proxy := testenv.NewProxy(t, "127.0.0.1:5672")
	proxied := strings.Replace(url, "127.0.0.1:5672", proxy.Addr(), 1)
	p := newPublisher(PublisherConfig{URL: proxied}, zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel)), 500*time.Millisecond, 2*time.Second)
	t.Cleanup(p.Close)
	sent := changes(1, 2)

	p.Publish("fe-a", sent[:1])
	testenv.Eventually(t, "the first change to be confirmed", wait, func() bool { return p.Status().Published == 1 })

	// A broker that stops answering without closing anything: only the confirm timeout notices.
	proxy.Freeze()
	start := time.Now()
	p.Publish("fe-a", sent[1:])
	if d := time.Since(start); d > mustNotBlock {
		t.Errorf("Publish took %v; it must not block", d)
	}
	testenv.Eventually(t, "the confirm to time out", wait, func() bool {
		return strings.Contains(p.Status().LastError, "timed out waiting for publisher confirms")
	})
	if st := p.Status(); st.Published != 1 || st.Queued != 1 {
		t.Errorf("status while frozen %+v", st)
	}

	proxy.Thaw()
	testenv.Eventually(t, "the held change to be published again", wait, func() bool { return p.Status().Published == 2 })
	if got := drain(t, url, queue, 2); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("queue got revisions %v, want [1 2]", got)
	}
}

func TestPublishQueueFull(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1, so the publisher never connects and its queue fills up.
	p := NewPublisher(PublisherConfig{URL: "amqp://guest:guest@127.0.0.1:1/", QueueSize: 2},
		zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel)))
	start := time.Now()
	p.Publish("fe-a", changes(1, 5))
	if d := time.Since(start); d > mustNotBlock {
		t.Errorf("Publish took %v; it must not block", d)
	}
	if st := p.Status(); st.Dropped != 3 || st.Queued != 2 || st.Connected {
		t.Errorf("status %+v, want 3 dropped and 2 queued", st)
	}
	p.Publish("fe-a", []mapping.Change{{Revision: 6, Op: mapping.Upsert, Mapping: mapping.Mapping{Name: "no-share"}}})
	if st := p.Status(); st.Dropped != 4 {
		t.Errorf("an invalid change was not dropped: %+v", st)
	}

	start = time.Now()
	p.Close()
	if d := time.Since(start); d > wait {
		t.Errorf("Close took %v", d)
	}
	p.Close() // a second Close is harmless
	p.Publish("fe-a", changes(7, 7))
	if st := p.Status(); st.Dropped != 7 || st.Queued != 0 || st.LastError == "" {
		t.Errorf("status after Close %+v, want all 7 dropped", st)
	}
}

func TestCloseFlushesQueue(t *testing.T) {
	t.Parallel()
	url := testenv.RabbitMQ(t)
	queue := durableQueue(t, url, "fe-a")
	p := NewPublisher(PublisherConfig{URL: url}, zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel)))
	p.Publish("fe-a", changes(1, 100))
	p.Close()
	if st := p.Status(); st.Published != 100 || st.Dropped != 0 || st.Connected {
		t.Errorf("status after Close %+v, want all 100 published", st)
	}
	if got := drain(t, url, queue, 100); len(got) != 100 || got[0] != 1 || got[99] != 100 {
		t.Errorf("queue got %d messages: %v", len(got), got)
	}
}

func TestConsumerConfigValidate(t *testing.T) {
	good := ConsumerConfig{URL: "amqp://guest:guest@127.0.0.1:5672/", Frontend: "fe-a"}
	if err := good.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	for name, mutate := range map[string]func(*ConsumerConfig){
		"no url":       func(c *ConsumerConfig) { c.URL = "" },
		"bad scheme":   func(c *ConsumerConfig) { c.URL = "http://x/" },
		"no frontend":  func(c *ConsumerConfig) { c.Frontend = "" },
		"wildcard":     func(c *ConsumerConfig) { c.Frontend = "fe.#" },
		"long token":   func(c *ConsumerConfig) { c.Frontend = strings.Repeat("x", 256) },
		"neg prefetch": func(c *ConsumerConfig) { c.Prefetch = -1 },
	} {
		cfg := good
		mutate(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if err := NewConsumer(cfg, &recorder{}, nil).Run(context.Background()); err == nil {
			t.Errorf("%s: Run accepted it", name)
		}
	}
}

// A frontend's broker user needs only testenv.FrontendPermissions: with them
// the consumer receives every change, and the user cannot publish one.
func TestConsumerNeedsOnlyConsumePermissions(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	restricted := testenv.RabbitMQFrontendUser(t, vhost, DefaultExchange)
	_, rec := startConsumer(t, restricted, "fe-a")
	p := startPublisher(t, PublisherConfig{URL: vhost})
	sent := changes(1, 3)
	p.Publish("fe-a", sent)
	testenv.Eventually(t, "the changes through a consume-only user", wait, func() bool { got, _, _ := rec.snapshot(); return len(got) == 3 })

	conn, err := amqp.Dial(restricted)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	body, _ := Encode("fe-a", changes(4, 4)[0])
	if err := ch.PublishWithContext(context.Background(), DefaultExchange, "fe-a", false, false, amqp.Publishing{Body: body}); err == nil {
		select {
		case e := <-closed:
			if e == nil || e.Code != amqp.AccessRefused {
				t.Fatalf("publishing as the frontend user closed the channel with %v, want ACCESS_REFUSED", e)
			}
		case <-time.After(wait):
			t.Fatal("the frontend user published a change")
		}
	}
	time.Sleep(200 * time.Millisecond)
	if got, _, _ := rec.snapshot(); len(got) != 3 {
		t.Fatalf("the consumer got %d changes, want the 3 the controller published", len(got))
	}
}
