// This file holds the frontend's side: a consumer that feeds one process's copy of the changes to a Handler.

package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/porticoproxy/portico/internal/backoff"
	"github.com/porticoproxy/portico/internal/mapping"
)

// DefaultPrefetch is how many unacknowledged messages the broker sends ahead by default.
const DefaultPrefetch = 256

// ConsumerConfig says where a Consumer reads changes from.
type ConsumerConfig struct {
	// URL is the AMQP URL of the broker, e.g. amqp://user:pass@host:5672/vhost.
	URL string `json:"url,omitempty"`
	// Exchange is the topic exchange the controller publishes to. Default: portico.mappings.
	Exchange string `json:"exchange,omitempty"`
	// Frontend is the token of the frontend whose changes to receive.
	Frontend string `json:"frontend,omitempty"`
	// Prefetch is how many unacknowledged messages the broker sends ahead. Default: 256.
	Prefetch int `json:"prefetch,omitempty"`
}

// Validate checks the config without connecting.
func (c ConsumerConfig) Validate() error {
	switch {
	case c.Frontend == "":
		return errors.New("missing frontend token")
	case len(c.Frontend) > 255:
		return errors.New("frontend token longer than an amqp routing key may be")
	case strings.ContainsAny(c.Frontend, "*#"):
		// In a topic binding these are wildcards and would subscribe to other frontends.
		return fmt.Errorf("frontend token %q contains a topic wildcard", clip(c.Frontend))
	case c.Prefetch < 0:
		return fmt.Errorf("negative prefetch %d", c.Prefetch)
	}
	return validateURL(c.URL)
}

// Handler receives what a Consumer reads. The Consumer calls it from one goroutine, in the
// order the broker delivers.
type Handler interface {
	// Apply is called with each valid change. The message is acknowledged when Apply returns.
	Apply(c mapping.Change)
	// Malformed is called after a message that could not be decoded was dropped; the caller
	// should resync from the journal, since the message may have carried a change.
	Malformed(err error)
	// Reconnected is called after every connect, the first one included, once the queue is
	// bound and before any message of the new connection is handed to Apply. Messages
	// published while the consumer was away are lost with its old queue, so the caller pulls
	// the journal here.
	Reconnected()
}

// ConsumerStatus is a snapshot of a Consumer's health.
type ConsumerStatus struct {
	// Connected is true while the consumer's queue is bound and consuming.
	Connected bool `json:"connected"`
	// LastError is the most recent connection error, if any.
	LastError string `json:"last_error,omitempty"`
	// LastErrorAt is when LastError happened.
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Connections counts successful connects, the first one included.
	Connections uint64 `json:"connections"`
	// Applied counts changes handed to Apply.
	Applied uint64 `json:"applied"`
	// Malformed counts messages dropped because they could not be decoded.
	Malformed uint64 `json:"malformed"`
}

// Consumer reads one frontend's changes from the broker into a Handler. Each Consumer, and so
// each frontend process, has its own queue and therefore its own copy of every change.
type Consumer struct {
	cfg     ConsumerConfig
	handler Handler
	logger  *zap.Logger

	state     linkState
	applied   atomic.Uint64
	malformed atomic.Uint64
}

// NewConsumer returns a consumer; Run starts it.
func NewConsumer(cfg ConsumerConfig, h Handler, logger *zap.Logger) *Consumer {
	if logger == nil {
		logger = zap.NewNop()
	}
	if cfg.Exchange == "" {
		cfg.Exchange = DefaultExchange
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = DefaultPrefetch
	}
	return &Consumer{
		cfg:     cfg,
		handler: h,
		logger:  logger.With(zap.String("exchange", cfg.Exchange), zap.String("frontend", cfg.Frontend)),
	}
}

// Run consumes until ctx ends, reconnecting with backoff whenever the connection or the
// channel closes. It returns an error only for an invalid config, and nil when ctx ends.
func (c *Consumer) Run(ctx context.Context) error {
	if err := c.cfg.Validate(); err != nil {
		return fmt.Errorf("amqp consumer config: %w", err)
	}
	if c.handler == nil {
		return errors.New("amqp consumer without a handler")
	}
	var bo backoff.Backoff
	for {
		err := c.session(ctx, &bo)
		if ctx.Err() != nil {
			c.state.down(nil)
			return nil
		}
		c.state.down(err)
		wait := bo.Next()
		c.logger.Warn("rabbitmq consumer disconnected; reconnecting", zap.Error(err), zap.Duration("retry_in", wait))
		if !backoff.Sleep(ctx, wait) {
			return nil
		}
	}
}

// Status reports the consumer's connection health and counters.
func (c *Consumer) Status() ConsumerStatus {
	connected, lastErr, lastErrAt, connections := c.state.get()
	return ConsumerStatus{
		Connected:   connected,
		LastError:   lastErr,
		LastErrorAt: lastErrAt,
		Connections: connections,
		Applied:     c.applied.Load(),
		Malformed:   c.malformed.Load(),
	}
}

// session connects, binds a fresh queue and handles deliveries until the connection fails
// (returning why) or ctx ends.
func (c *Consumer) session(ctx context.Context, bo *backoff.Backoff) error {
	conn, release, err := dial(ctx, c.cfg.URL, "portico consumer "+c.cfg.Frontend)
	if err != nil {
		return err
	}
	// Until the queue is bound, ending ctx cuts the socket to unblock the setup calls; after
	// that the loop below watches ctx and closes politely.
	defer release()
	defer hangUp(conn)
	deliveries, err := c.setup(ctx, conn)
	if err != nil {
		return err
	}
	release()
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	c.state.up()
	bo.Reset()
	c.logger.Info("rabbitmq consumer connected")
	c.handler.Reconnected()

	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-connClosed:
			return closeReason("connection", e)
		case d, ok := <-deliveries:
			if !ok {
				// The channel closed or the broker cancelled the consumer (its queue was
				// deleted); either way a new connection and a new queue are needed.
				return errors.New("rabbitmq delivery stream ended")
			}
			if err := c.handle(d); err != nil {
				return err
			}
		}
	}
}

// setup checks the exchange, declares this process's queue, binds it and starts consuming.
func (c *Consumer) setup(ctx context.Context, conn *amqp.Connection) (<-chan amqp.Delivery, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("opening channel: %w", err)
	}
	if err := ch.Qos(c.cfg.Prefetch, 0, false); err != nil {
		return nil, fmt.Errorf("setting prefetch: %w", err)
	}
	if err := checkExchange(ch, c.cfg.Exchange); err != nil {
		return nil, err
	}
	// Server-named, exclusive and auto-delete: the queue belongs to this process and
	// disappears with its connection, so a dead instance leaves nothing piling up.
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return nil, fmt.Errorf("declaring queue: %w", err)
	}
	if err := ch.QueueBind(q.Name, c.cfg.Frontend, c.cfg.Exchange, false, nil); err != nil {
		return nil, fmt.Errorf("binding queue %s: %w", q.Name, err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, q.Name, "", false, true, false, false, nil)
	if err != nil {
		return nil, fmt.Errorf("consuming from queue %s: %w", q.Name, err)
	}
	return deliveries, nil
}

// handle hands one delivery to the handler and acknowledges it. A message that cannot be
// decoded is acknowledged too, since redelivering it would fail the same way.
func (c *Consumer) handle(d amqp.Delivery) error {
	frontend, change, err := Decode(d.Body)
	if err == nil && frontend != c.cfg.Frontend {
		err = fmt.Errorf("change for frontend %q arrived for %q", clip(frontend), c.cfg.Frontend)
	}
	if err != nil {
		c.malformed.Add(1)
		c.logger.Warn("dropping malformed change message; resyncing",
			zap.String("routing_key", clip(d.RoutingKey)), zap.Int("size", len(d.Body)), zap.Error(err))
		if aerr := d.Ack(false); aerr != nil {
			return fmt.Errorf("acknowledging message: %w", aerr)
		}
		c.handler.Malformed(err)
		return nil
	}
	if ce := c.logger.Check(zapcore.DebugLevel, "applying change"); ce != nil {
		ce.Write(zap.Int64("revision", change.Revision), zap.Stringer("op", change.Op), zap.String("name", change.Name))
	}
	c.handler.Apply(change)
	c.applied.Add(1)
	if err := d.Ack(false); err != nil {
		return fmt.Errorf("acknowledging message: %w", err)
	}
	return nil
}
