// This file holds the controller's side: a publisher that never holds up the caller.

package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"github.com/porticoproxy/portico/internal/backoff"
	"github.com/porticoproxy/portico/internal/mapping"
)

// DefaultQueueSize is how many changes a publisher buffers when a config sets no size.
const DefaultQueueSize = 10000

const (
	// confirmTimeout bounds the wait for a publisher confirm; a broker that takes longer is
	// treated as gone, and the unconfirmed messages are sent again on a new connection.
	confirmTimeout = 5 * time.Second
	// flushTimeout bounds how long Close keeps trying to send what is queued.
	flushTimeout = 2 * time.Second
	// maxBatch is how many messages go out before the publisher waits for their confirms.
	maxBatch = 256
)

// PublisherConfig says where a Publisher sends changes.
type PublisherConfig struct {
	// URL is the AMQP URL of the broker, e.g. amqp://user:pass@host:5672/vhost.
	URL string `json:"url,omitempty"`
	// Exchange is the topic exchange changes go to. Default: portico.mappings.
	Exchange string `json:"exchange,omitempty"`
	// QueueSize is how many changes may wait for the broker before new ones are dropped.
	// Default: 10000.
	QueueSize int `json:"queue_size,omitempty"`
}

// Validate checks the config without connecting.
func (c PublisherConfig) Validate() error {
	if c.QueueSize < 0 {
		return fmt.Errorf("negative queue size %d", c.QueueSize)
	}
	return validateURL(c.URL)
}

// PublisherStatus is a snapshot of a Publisher's health.
type PublisherStatus struct {
	// Connected is true while the publisher holds a usable channel to the broker.
	Connected bool `json:"connected"`
	// LastError is the most recent connection or publish error, if any.
	LastError string `json:"last_error,omitempty"`
	// LastErrorAt is when LastError happened.
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Connections counts successful connects, the first one included.
	Connections uint64 `json:"connections"`
	// Published counts changes the broker confirmed.
	Published uint64 `json:"published"`
	// Dropped counts changes given up: queue full, invalid, or unsent at Close.
	Dropped uint64 `json:"dropped"`
	// Queued is how many changes wait to be confirmed.
	Queued int `json:"queued"`
}

// outgoing is one encoded change waiting to be published.
type outgoing struct {
	frontend string
	revision int64
	body     []byte
}

// Publisher sends mapping changes to the broker from a background goroutine, which keeps a
// connection, reconnects with backoff after any failure and retries what it was sending.
type Publisher struct {
	exchange string
	url      string
	logger   *zap.Logger

	confirmTimeout time.Duration
	flushTimeout   time.Duration

	// mu orders Publish against Close, so nothing is queued after the queue's last reader is gone.
	mu      sync.RWMutex
	closed  bool
	queue   chan outgoing
	closing chan struct{}
	stopped chan struct{}
	// ctx ends when Close gives up flushing; it aborts whatever the goroutine waits on.
	ctx    context.Context
	cancel context.CancelFunc

	state     linkState
	held      atomic.Int64
	published atomic.Uint64
	dropped   atomic.Uint64
}

// NewPublisher starts a publisher. It connects in the background and never fails: a broker
// that cannot be reached shows in Status and the logs, and is retried until Close.
func NewPublisher(cfg PublisherConfig, logger *zap.Logger) *Publisher {
	return newPublisher(cfg, logger, confirmTimeout, flushTimeout)
}

func newPublisher(cfg PublisherConfig, logger *zap.Logger, confirm, flush time.Duration) *Publisher {
	if logger == nil {
		logger = zap.NewNop()
	}
	if cfg.Exchange == "" {
		cfg.Exchange = DefaultExchange
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Publisher{
		exchange:       cfg.Exchange,
		url:            cfg.URL,
		logger:         logger.With(zap.String("exchange", cfg.Exchange)),
		confirmTimeout: confirm,
		flushTimeout:   flush,
		queue:          make(chan outgoing, cfg.QueueSize),
		closing:        make(chan struct{}),
		stopped:        make(chan struct{}),
		ctx:            ctx,
		cancel:         cancel,
	}
	go p.run()
	return p
}

// Publish queues committed changes of one frontend for the broker and returns at once; it is
// meant to be called right after the transaction commits. When the queue is full a change is
// dropped with a warning: every frontend pulls the journal periodically, which repairs it.
func (p *Publisher) Publish(frontend string, changes []mapping.Change) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, c := range changes {
		body, err := Encode(frontend, c)
		if err != nil {
			p.dropped.Add(1)
			p.logger.Error("not publishing invalid change",
				zap.String("frontend", frontend), zap.Int64("revision", c.Revision), zap.Error(err))
			continue
		}
		if p.closed {
			p.dropped.Add(1)
			p.logger.Warn("publisher closed; dropping change",
				zap.String("frontend", frontend), zap.Int64("revision", c.Revision))
			continue
		}
		select {
		case p.queue <- outgoing{frontend: frontend, revision: c.Revision, body: body}:
		default:
			p.dropped.Add(1)
			p.logger.Warn("publish queue full; dropping change, frontends repair it on their next journal pull",
				zap.String("frontend", frontend), zap.Int64("revision", c.Revision), zap.Int("queue_size", cap(p.queue)))
		}
	}
}

// Close stops the publisher. It keeps sending what is already queued for up to a couple of
// seconds, then gives up on the rest, which frontends repair from the journal.
func (p *Publisher) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.stopped
		return
	}
	p.closed = true
	close(p.closing)
	p.mu.Unlock()

	t := time.NewTimer(p.flushTimeout)
	defer t.Stop()
	select {
	case <-p.stopped:
	case <-t.C:
		p.cancel()
		<-p.stopped
	}
	p.cancel()
	n := p.held.Swap(0)
	for len(p.queue) > 0 {
		<-p.queue
		n++
	}
	if n > 0 {
		p.dropped.Add(uint64(n))
		p.logger.Warn("publisher closed with unsent changes; frontends repair them on their next journal pull",
			zap.Int64("unsent", n))
	}
}

// Status reports the publisher's connection health and counters.
func (p *Publisher) Status() PublisherStatus {
	connected, lastErr, lastErrAt, connections := p.state.get()
	return PublisherStatus{
		Connected:   connected,
		LastError:   lastErr,
		LastErrorAt: lastErrAt,
		Connections: connections,
		Published:   p.published.Load(),
		Dropped:     p.dropped.Load(),
		Queued:      len(p.queue) + int(p.held.Load()),
	}
}

// run owns the connection. It returns once Close was called and the queue is empty, or
// when Close gives up.
func (p *Publisher) run() {
	defer close(p.stopped)
	var (
		held []outgoing
		bo   backoff.Backoff
	)
	for {
		err := p.session(&held, &bo)
		p.state.down(err)
		if err == nil || p.ctx.Err() != nil || p.drained(held) {
			p.held.Store(int64(len(held)))
			return
		}
		wait := bo.Next()
		p.logger.Warn("rabbitmq publisher disconnected; reconnecting",
			zap.Error(err), zap.Duration("retry_in", wait), zap.Int("held", len(held)))
		if !backoff.Sleep(p.ctx, wait) {
			p.held.Store(int64(len(held)))
			return
		}
	}
}

// drained reports whether Close was called and nothing is left to send, so that a
// publisher without a broker does not wait out the flush timeout for nothing.
func (p *Publisher) drained(held []outgoing) bool {
	select {
	case <-p.closing:
		return len(held) == 0 && len(p.queue) == 0
	default:
		return false
	}
}

// session connects, then publishes until the connection fails (returning why) or until the
// publisher is closed and has nothing left to send (returning nil). held carries the messages
// taken from the queue but not yet confirmed from one session to the next.
func (p *Publisher) session(held *[]outgoing, bo *backoff.Backoff) error {
	conn, release, err := dial(p.ctx, p.url, "portico publisher")
	if err != nil {
		return err
	}
	defer release()
	defer hangUp(conn)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("opening channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("enabling publisher confirms: %w", err)
	}
	if err := declareExchange(ch, p.exchange); err != nil {
		return err
	}
	// Buffered, because the library sends the close reason synchronously.
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	chanClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	p.state.up()
	bo.Reset()
	p.logger.Info("rabbitmq publisher connected")

	for {
		if len(*held) == 0 {
			select {
			case m := <-p.queue:
				*held = append(*held, m)
			case e := <-connClosed:
				return closeReason("connection", e)
			case e := <-chanClosed:
				return closeReason("channel", e)
			case <-p.closing:
				select {
				case m := <-p.queue:
					*held = append(*held, m)
				default:
					return nil
				}
			}
		}
	fill:
		for len(*held) < maxBatch {
			select {
			case m := <-p.queue:
				*held = append(*held, m)
			default:
				break fill
			}
		}
		p.held.Store(int64(len(*held)))
		confirmed, err := p.publishBatch(ch, *held)
		p.published.Add(uint64(confirmed))
		*held = append((*held)[:0], (*held)[confirmed:]...)
		p.held.Store(int64(len(*held)))
		if err != nil {
			return err
		}
	}
}

// publishBatch publishes msgs in order and waits for their confirms. It returns how many,
// from the start, the broker confirmed; the rest must be sent again. Sending again may
// duplicate a message, which the frontends' apply rule drops.
func (p *Publisher) publishBatch(ch *amqp.Channel, msgs []outgoing) (confirmed int, err error) {
	pending := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	var publishErr error
	for _, m := range msgs {
		dc, err := ch.PublishWithDeferredConfirmWithContext(p.ctx, p.exchange, m.frontend, false, false, amqp.Publishing{
			ContentType:  "application/json",
			DeliveryMode: amqp.Persistent,
			Timestamp:    time.Now(),
			Body:         m.body,
		})
		if err != nil {
			publishErr = fmt.Errorf("publishing revision %d of frontend %s: %w", m.revision, m.frontend, err)
			break
		}
		if dc == nil {
			publishErr = errors.New("channel is not in confirm mode")
			break
		}
		pending = append(pending, dc)
	}
	timer := time.NewTimer(p.confirmTimeout)
	defer timer.Stop()
	for i, dc := range pending {
		select {
		case <-dc.Done():
			if !dc.Acked() {
				// The library also nacks what is pending when the channel closes.
				return i, fmt.Errorf("broker did not confirm revision %d of frontend %s", msgs[i].revision, msgs[i].frontend)
			}
		case <-timer.C:
			return i, errors.New("timed out waiting for publisher confirms")
		case <-p.ctx.Done():
			return i, p.ctx.Err()
		}
	}
	return len(pending), publishErr
}

// closeReason turns a close notification into an error; a nil one means a graceful close.
func closeReason(what string, e *amqp.Error) error {
	if e == nil {
		return fmt.Errorf("rabbitmq %s closed", what)
	}
	return fmt.Errorf("rabbitmq %s closed: %w", what, e)
}
