package agent

import (
	"bytes"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/porticoproxy/portico/internal/testenv"
)

// These tests put a loopback TCP listener where the overlay would be: the
// share's backend serves it, and the accessor dials it.

// countingListener counts the connections it accepted that are still open.
type countingListener struct {
	net.Listener
	open atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

func (c *countedConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }

// fakeOverlay serves backend on a loopback listener and returns how to dial it.
func fakeOverlay(t *testing.T, backend Backend) (*countingListener, func(ctx context.Context) (net.Conn, error)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { backend.Serve(ctx, cl, zaptest.NewLogger(t)); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return cl, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	}
}

// startAccess runs a and returns the address it listens on.
func startAccess(t *testing.T, a *Access) net.Addr {
	t.Helper()
	a.Bind, a.Logger = "127.0.0.1:0", zaptest.NewLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- a.Run(ctx, func() error { close(ready); return nil }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("access: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("access: %v", err)
		}
	})
	return a.Addr()
}

func TestTCPTunnelCarriesAHalfClosedStream(t *testing.T) {
	_, dial := fakeOverlay(t, &TCPTunnel{Address: testenv.TCPEcho(t)})
	addr := startAccess(t, &Access{Dial: dial})

	for range 3 { // each connection its own pipe
		if err := testenv.EchoOverTCP(addr.String(), 1<<20); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTCPTunnelClosesWhenTheTargetIsDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	_, dial := fakeOverlay(t, &TCPTunnel{Address: closed})
	addr := startAccess(t, &Access{Dial: dial})
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes from a tunnel to nothing", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the tunnel to a closed port stayed open")
	}
}

// roundTrip sends p from c and waits for the echo.
func roundTrip(t *testing.T, c net.Conn, p []byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, maxDatagram)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("waiting for the echo of %d bytes: %v", len(p), err)
	}
	if !bytes.Equal(buf[:n], p) {
		t.Fatalf("sent %d bytes, got back %d different ones", len(p), n)
	}
}

func TestUDPTunnelRoundTrip(t *testing.T) {
	target, _ := testenv.UDPEcho(t)
	_, dial := fakeOverlay(t, &UDPTunnel{Address: target})
	addr := startAccess(t, &Access{Dial: dial, UDP: true})

	// Two clients at once; each gets its own answers.
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("udp", addr.String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for _, size := range []int{0, 1, 1200, 60000} {
				p := bytes.Repeat([]byte{byte('a' + i)}, size)
				roundTrip(t, c, p)
			}
		}()
	}
	wg.Wait()
}

func TestUDPSessionsEndWhenIdle(t *testing.T) {
	const idle = 150 * time.Millisecond
	for _, tt := range []struct {
		name                string
		agentIdle, userIdle time.Duration
	}{
		{"on the agent", idle, time.Hour},
		{"on the accessor", time.Hour, idle},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target, sources := testenv.UDPEcho(t)
			overlay, dial := fakeOverlay(t, &UDPTunnel{Address: target, Idle: tt.agentIdle})
			addr := startAccess(t, &Access{Dial: dial, UDP: true, Idle: tt.userIdle})
			c, err := net.Dial("udp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			roundTrip(t, c, []byte("one"))
			first := <-sources
			if overlay.open.Load() != 1 {
				t.Fatalf("%d overlay connections, want 1", overlay.open.Load())
			}
			// Quiet for longer than idle: one side times out, the other follows.
			testenv.Eventually(t, "the quiet session to close", 5*time.Second, func() bool { return overlay.open.Load() == 0 })
			// The next datagram opens a new session, from a new socket.
			testenv.Eventually(t, "a new session to answer", 5*time.Second, func() bool {
				c.SetDeadline(time.Now().Add(500 * time.Millisecond))
				c.Write([]byte("two"))
				n, err := c.Read(make([]byte, 10))
				return err == nil && n == 3
			})
			if second := <-sources; second == first {
				t.Errorf("the new session reached the target from the old socket %s", first)
			}
		})
	}
}
