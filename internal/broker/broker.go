// Package broker fans mapping changes out over RabbitMQ. The controller publishes each
// committed change to a durable topic exchange with the frontend's token as routing key; every
// frontend process binds its own exclusive, auto-delete queue to its token, so each instance
// gets its own copy. The broker is a fast path only: frontends still pull the journal, which
// repairs whatever a broker outage lost.
package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultExchange is the exchange used when a config names none.
const DefaultExchange = "portico.mappings"

const (
	// dialTimeout bounds the TCP connect and the AMQP handshake.
	dialTimeout = 5 * time.Second
	// heartbeat lets both sides notice a dead peer that never closed the TCP connection.
	heartbeat = 10 * time.Second
	// closeTimeout bounds the polite connection.close when a connection is given up.
	closeTimeout = time.Second
)

// dial opens an AMQP connection. Until release is called, ending ctx closes the socket, which
// unblocks the handshake and any call stuck on a broker that stopped answering; the AMQP
// library itself does not honour contexts there.
func dial(ctx context.Context, amqpURL, name string) (conn *amqp.Connection, release func(), err error) {
	var (
		mu    sync.Mutex
		stops []func() bool
	)
	release = func() {
		mu.Lock()
		defer mu.Unlock()
		for _, stop := range stops {
			stop()
		}
		stops = nil
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	conn, err = amqp.DialConfig(amqpURL, amqp.Config{
		Heartbeat:  heartbeat,
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			dctx, cancel := context.WithTimeout(ctx, dialTimeout)
			defer cancel()
			var d net.Dialer
			nc, err := d.DialContext(dctx, network, addr)
			if err != nil {
				return nil, err
			}
			// The library clears this deadline once the handshake is done.
			if err := nc.SetDeadline(time.Now().Add(dialTimeout)); err != nil {
				nc.Close()
				return nil, err
			}
			mu.Lock()
			stops = append(stops, context.AfterFunc(ctx, func() { nc.Close() }))
			mu.Unlock()
			return nc, nil
		},
	})
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("connecting to rabbitmq: %w", redact(err))
	}
	return conn, release, nil
}

// hangUp closes a connection politely but without waiting long for a broker that may be gone.
func hangUp(conn *amqp.Connection) {
	if conn != nil && !conn.IsClosed() {
		_ = conn.CloseDeadline(time.Now().Add(closeTimeout))
	}
}

// declareExchange declares the durable topic exchange; the controllers' publishers do.
func declareExchange(ch *amqp.Channel, name string) error {
	if err := ch.ExchangeDeclare(name, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declaring exchange %s: %w", name, err)
	}
	return nil
}

// checkExchange checks that the exchange exists, as a consumer does: a passive declare needs
// no configure permission, so a frontend's broker user can be one that may only consume.
func checkExchange(ch *amqp.Channel, name string) error {
	if err := ch.ExchangeDeclarePassive(name, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("finding exchange %s (a controller declares it when it connects): %w", name, err)
	}
	return nil
}

// validateURL checks an AMQP URL without echoing it, since it usually holds a password.
func validateURL(amqpURL string) error {
	if amqpURL == "" {
		return errors.New("missing amqp url")
	}
	if _, err := amqp.ParseURI(amqpURL); err != nil {
		return fmt.Errorf("parsing amqp url: %w", redact(err))
	}
	return nil
}

// redact drops the URL from a URL parse error, since the URL usually holds a password.
func redact(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// linkState is the connection health that Status reports.
type linkState struct {
	mu          sync.Mutex
	connected   bool
	lastErr     string
	lastErrAt   time.Time
	connections uint64
}

func (s *linkState) up() {
	s.mu.Lock()
	s.connected = true
	s.connections++
	s.mu.Unlock()
}

func (s *linkState) down(err error) {
	s.mu.Lock()
	s.connected = false
	if err != nil {
		s.lastErr, s.lastErrAt = err.Error(), time.Now()
	}
	s.mu.Unlock()
}

func (s *linkState) get() (connected bool, lastErr string, lastErrAt time.Time, connections uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected, s.lastErr, s.lastErrAt, s.connections
}
