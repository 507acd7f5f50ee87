package testenv

// This file gives each test its own RabbitMQ virtual host on the local broker and breaks its connections on demand.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	// rabbitMQAddr is the local broker the tests use, with the default guest account.
	rabbitMQAddr = "127.0.0.1:5672"
	// rabbitmqctlTimeout bounds one rabbitmqctl call; each takes about a second here.
	rabbitmqctlTimeout = 30 * time.Second
)

// RabbitMQ creates a uniquely named virtual host on the local broker, grants the guest user
// everything in it, and returns the AMQP URL of that vhost. The vhost, with all its exchanges,
// queues and connections, is deleted when the test ends. Without a broker (or rabbitmqctl) the
// test fails in CI and is skipped elsewhere.
func RabbitMQ(tb testing.TB) (amqpURL string) {
	tb.Helper()
	amqpURL, drop, err := CreateRabbitMQVhost(tb.Name())
	Require(tb, "RabbitMQ", err)
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Log(err)
		}
	})
	return amqpURL
}

// CreateRabbitMQVhost creates a uniquely named virtual host, named after label, on the local
// broker, grants the guest user everything in it, and returns its AMQP URL and a function that
// deletes it with all it holds. It is RabbitMQ for programs that have no test.
func CreateRabbitMQVhost(label string) (amqpURL string, drop func() error, err error) {
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		return "", nil, err
	}
	conn, err := net.DialTimeout("tcp", rabbitMQAddr, 2*time.Second)
	if err != nil {
		return "", nil, fmt.Errorf("broker at %s does not answer: %w", rabbitMQAddr, err)
	}
	conn.Close()

	vhost := uniqueVhost(label)
	if err := rabbitmqctl("add_vhost", vhost); err != nil {
		return "", nil, err
	}
	drop = func() error {
		// delete_vhost also closes the connections still open in it.
		if err := rabbitmqctl("delete_vhost", vhost); err != nil {
			return fmt.Errorf("deleting rabbitmq vhost %s: %w", vhost, err)
		}
		return nil
	}
	if err := rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"); err != nil {
		drop()
		return "", nil, fmt.Errorf("granting guest access to rabbitmq vhost %s: %w", vhost, err)
	}
	return "amqp://guest:guest@" + rabbitMQAddr + "/" + url.PathEscape(vhost), drop, nil
}

// FrontendPermissions are the RabbitMQ permissions (configure, write, read) a frontend's
// broker user needs, and all it should have: its own server-named queue (amq.gen-*), bound to
// the mappings exchange, which it may only read from. OPERATING.md documents them.
func FrontendPermissions(exchange string) [3]string {
	q := `^amq\.gen-.*`
	return [3]string{q, q, `^(amq\.gen-.*|` + regexp.QuoteMeta(exchange) + `)$`}
}

// RabbitMQFrontendUser creates a user with FrontendPermissions in the vhost of amqpURL and
// returns that URL with its credentials; the user is deleted when the test ends.
func RabbitMQFrontendUser(tb testing.TB, amqpURL, exchange string) string {
	tb.Helper()
	vhost, err := vhostOf(amqpURL)
	if err != nil {
		tb.Fatal(err)
	}
	user, pass := "frontend-"+strconv.FormatInt(time.Now().UnixNano(), 36), "frontend-password"
	if err := rabbitmqctl("add_user", user, pass); err != nil {
		tb.Fatalf("adding rabbitmq user: %v", err)
	}
	tb.Cleanup(func() { rabbitmqctl("delete_user", user) })
	p := FrontendPermissions(exchange)
	if err := rabbitmqctl("set_permissions", "-p", vhost, user, p[0], p[1], p[2]); err != nil {
		tb.Fatalf("setting rabbitmq permissions: %v", err)
	}
	u, err := url.Parse(amqpURL)
	if err != nil {
		tb.Fatal(err)
	}
	u.User = url.UserPassword(user, pass)
	return u.String()
}

// CloseRabbitMQConnections force-closes every client connection of a vhost, as a broker
// restart or a network cut would. vhostOrURL is a vhost name or an AMQP URL from RabbitMQ.
func CloseRabbitMQConnections(tb testing.TB, vhostOrURL string) {
	tb.Helper()
	vhost, err := vhostOf(vhostOrURL)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := rabbitmqctlOutput("list_connections", "-q", "--no-table-headers", "pid", "vhost")
	if err != nil {
		tb.Fatalf("listing rabbitmq connections: %v", err)
	}
	closed := 0
	for _, line := range strings.Split(string(out), "\n") {
		pid, vh, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if !ok || vh != vhost {
			continue
		}
		// A connection that went away since the listing is not an error worth failing on.
		if err := rabbitmqctl("close_connection", pid, "portico test: simulated outage"); err != nil {
			tb.Logf("closing rabbitmq connection %s: %v", pid, err)
			continue
		}
		closed++
	}
	tb.Logf("closed %d rabbitmq connection(s) of vhost %s", closed, vhost)
}

// RabbitMQOutage cuts a vhost off: it revokes the guest user's access, so that no client can
// connect, and closes every connection. restore grants access again; it also runs when the
// test ends if the test did not call it.
func RabbitMQOutage(tb testing.TB, vhostOrURL string) (restore func()) {
	tb.Helper()
	vhost, err := vhostOf(vhostOrURL)
	if err != nil {
		tb.Fatal(err)
	}
	if err := rabbitmqctl("clear_permissions", "-p", vhost, "guest"); err != nil {
		tb.Fatalf("revoking guest access to rabbitmq vhost %s: %v", vhost, err)
	}
	// Open connections keep the permissions they were opened with, so they must go too.
	CloseRabbitMQConnections(tb, vhost)
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		if err := rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"); err != nil {
			tb.Errorf("restoring guest access to rabbitmq vhost %s: %v", vhost, err)
		}
	}
	tb.Cleanup(restore)
	return restore
}

// vhostOf returns the vhost named by an AMQP URL, or s itself when it is not a URL.
func vhostOf(s string) (string, error) {
	if !strings.HasPrefix(s, "amqp://") && !strings.HasPrefix(s, "amqps://") {
		return s, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("parsing amqp url: %w", err)
	}
	// As in the AMQP URI spec, an empty path means the default vhost.
	if u.Path == "" || u.Path == "/" {
		return "/", nil
	}
	return strings.TrimPrefix(u.Path, "/"), nil
}

var vhostUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// uniqueVhost makes a vhost name that says which test made it and cannot collide with
// another test or another run.
func uniqueVhost(testName string) string {
	name := vhostUnsafe.ReplaceAllString(testName, "_")
	if len(name) > 40 {
		name = name[:40]
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "portico-test-" + name + "-" + hex.EncodeToString(b[:])
}

func rabbitmqctl(args ...string) error {
	_, err := rabbitmqctlOutput(args...)
	return err
}

func rabbitmqctlOutput(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), rabbitmqctlTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "rabbitmqctl", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String() + " " + stdout.String())
		return nil, fmt.Errorf("rabbitmqctl %s: %w: %s", args[0], err, msg)
	}
	return stdout.Bytes(), nil
}

// PublishRaw publishes bodies as they are to the topic exchange at amqpURL
// with routingKey, behind the back of Portico's publisher: for tests that
// feed frontends malformed or hand-made messages.
func PublishRaw(tb testing.TB, amqpURL, exchange, routingKey string, bodies ...string) {
	tb.Helper()
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		tb.Fatalf("dialing rabbitmq: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		tb.Fatalf("opening channel: %v", err)
	}
	if err := ch.ExchangeDeclare(exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		tb.Fatalf("declaring exchange %s: %v", exchange, err)
	}
	for _, body := range bodies {
		if err := ch.PublishWithContext(context.Background(), exchange, routingKey, false, false, amqp.Publishing{Body: []byte(body)}); err != nil {
			tb.Fatalf("publishing %q: %v", body, err)
		}
	}
}
