package agent

// This file holds the accessor's side of a private share: a local listener whose every TCP
// connection, or every UDP client, dials the share over the overlay.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/openziti/sdk-golang/ziti"
	"go.uber.org/zap"

	"github.com/porticoproxy/portico/internal/zitiident"
)

// dialShare bounds one dial of the share over the overlay.
const dialShare = 30 * time.Second

// udpBacklog is how many datagrams of one UDP client wait while its session
// dials the share; more are dropped, as a congested network would.
const udpBacklog = 64

// Access serves a private share on a local address until ctx ends.
type Access struct {
	Ziti    ziti.Context
	Service string // the share token
	// Bind is the local address to listen on, such as 127.0.0.1:9191.
	Bind string
	// UDP listens for datagrams, for a udpTunnel share; otherwise TCP.
	UDP bool
	// Idle ends a UDP client's session without datagrams for this long; 0
	// is DefaultIdle.
	Idle   time.Duration
	Logger *zap.Logger
	// Dial connects to the share; nil dials the service over the overlay.
	Dial func(ctx context.Context) (net.Conn, error)

	addr net.Addr
}

// Addr is the address Run listens on, once it has called ready.
func (a *Access) Addr() net.Addr { return a.addr }

// Run listens on Bind, calls ready, and serves until ctx ends.
func (a *Access) Run(ctx context.Context, ready func() error) error {
	if a.UDP {
		pc, err := net.ListenPacket("udp", a.Bind)
		if err != nil {
			return fmt.Errorf("listening for the share: %w", err)
		}
		a.addr = pc.LocalAddr()
		if err := ready(); err != nil {
			pc.Close()
			return err
		}
		return a.serveUDP(ctx, pc.(*net.UDPConn))
	}
	ln, err := net.Listen("tcp", a.Bind)
	if err != nil {
		return fmt.Errorf("listening for the share: %w", err)
	}
	a.addr = ln.Addr()
	if err := ready(); err != nil {
		ln.Close()
		return err
	}
	return serveConns(ctx, ln, func(conn net.Conn) {
		ov, err := a.dial(ctx)
		if err != nil {
			a.Logger.Warn("cannot reach the share", zap.String("share", a.Service), zap.Error(err))
			conn.Close()
			return
		}
		Pipe(conn, ov)
	})
}

func (a *Access) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialShare)
	defer cancel()
	if a.Dial != nil {
		return a.Dial(ctx)
	}
	return zitiident.Dial(ctx, a.Ziti, a.Service, a.Logger)
}

// serveUDP gives each client address a session of its own over the overlay.
func (a *Access) serveUDP(ctx context.Context, pc *net.UDPConn) error {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	var mu sync.Mutex
	sessions := map[netip.AddrPort]*udpClient{}
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading datagrams: %w", err)
		}
		mu.Lock()
		c := sessions[from]
		if c == nil {
			c = &udpClient{pc: pc, addr: from, in: make(chan []byte, udpBacklog), done: make(chan struct{})}
			sessions[from] = c
			go func() {
				a.serveUDPClient(ctx, c)
				mu.Lock()
				delete(sessions, from)
				mu.Unlock()
			}()
		}
		mu.Unlock()
		c.push(bytes.Clone(buf[:n]))
	}
}

func (a *Access) serveUDPClient(ctx context.Context, c *udpClient) {
	ov, err := a.dial(ctx)
	if err != nil {
		a.Logger.Warn("cannot reach the share", zap.String("share", a.Service), zap.Error(err))
		c.Close()
		return
	}
	stop := context.AfterFunc(ctx, func() { ov.Close() })
	defer stop()
	relayDatagrams(ov, c, a.Idle)
}

// udpClient is one client of the shared UDP socket, seen as a connection
// whose every Read and Write is one datagram.
type udpClient struct {
	pc   *net.UDPConn
	addr netip.AddrPort
	in   chan []byte
	once sync.Once
	done chan struct{}
}

// push queues a datagram from the client, or drops it if the queue is full.
func (c *udpClient) push(p []byte) {
	select {
	case c.in <- p:
	default:
	}
}

func (c *udpClient) Read(p []byte) (int, error) {
	select {
	case d := <-c.in:
		return copy(p, d), nil
	case <-c.done:
		return 0, net.ErrClosed
	}
}

func (c *udpClient) Write(p []byte) (int, error) { return c.pc.WriteToUDPAddrPort(p, c.addr) }

func (c *udpClient) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}
