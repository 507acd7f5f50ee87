package agent

// This file holds the tunnels of private shares: TCP piped connection by connection, and UDP
// datagrams carried over an overlay connection in length-prefixed frames.

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

const (
	// DefaultIdle ends a UDP session that carried no datagram either way for
	// this long.
	DefaultIdle = time.Minute
	// maxDatagram is the largest UDP payload; a frame's 2-byte length holds it.
	maxDatagram = 1<<16 - 1
	// dialTarget bounds the connection to a tunnel's target.
	dialTarget = 10 * time.Second
)

// copyBuffers hold what the agent copies through at a time, in each
// direction of a tunnel and in the HTTP proxy's answers. Every write to a
// Ziti connection becomes one message that the SDK waits to see on the wire,
// so large writes cost far less per byte: one overlay stream carried about
// 58 MB/s in 32 KiB writes and 86 MB/s in 256 KiB ones (bench/README.md).
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// proxyBuffers lends copyBuffers to httputil.ReverseProxy.
type proxyBuffers struct{}

func (proxyBuffers) Get() []byte  { return *copyBuffers.Get().(*[]byte) }
func (proxyBuffers) Put(b []byte) { copyBuffers.Put(&b) }

// TCPTunnel serves a tcpTunnel share: each overlay connection is piped to a
// new TCP connection to Address.
type TCPTunnel struct {
	Address string
}

// Serve pipes each connection of ln to the target until ctx ends or ln fails.
func (t *TCPTunnel) Serve(ctx context.Context, ln net.Listener, logger *zap.Logger) error {
	return serveConns(ctx, ln, func(conn net.Conn) {
		target, err := dialTimeout(ctx, "tcp", t.Address)
		if err != nil {
			logger.Warn("target unreachable", zap.String("target", t.Address), zap.Error(err))
			conn.Close()
			return
		}
		Pipe(conn, target)
	})
}

// UDPTunnel serves a udpTunnel share: each overlay connection is one
// client's session, whose datagrams go to Address from a socket of its own,
// so the answers find their way back.
type UDPTunnel struct {
	Address string
	// Idle ends a session without datagrams for this long; 0 is DefaultIdle.
	Idle time.Duration
}

// Serve relays each session of ln to the target until ctx ends or ln fails.
func (u *UDPTunnel) Serve(ctx context.Context, ln net.Listener, logger *zap.Logger) error {
	return serveConns(ctx, ln, func(conn net.Conn) {
		target, err := dialTimeout(ctx, "udp", u.Address)
		if err != nil {
			logger.Warn("target unreachable", zap.String("target", u.Address), zap.Error(err))
			conn.Close()
			return
		}
		relayDatagrams(conn, target, u.Idle)
	})
}

func dialTimeout(ctx context.Context, network, address string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTarget)
	defer cancel()
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// serveConns hands each connection of ln to handle, in a goroutine of its
// own, until ctx ends (then it closes ln and every connection) or ln fails.
func serveConns(ctx context.Context, ln net.Listener, handle func(net.Conn)) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go func() {
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			defer stop()
			handle(conn)
		}()
	}
}

// Pipe copies between a and b both ways, then closes both. When one side
// ends its stream, Pipe ends the other's write side only (a half close), so
// answers still flow back; an error in either direction closes both.
func Pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); copyHalf(a, b) }()
	go func() { defer wg.Done(); copyHalf(b, a) }()
	wg.Wait()
	a.Close()
	b.Close()
}

type closeWriter interface{ CloseWrite() error }

// copyHalf copies src to dst until src ends, then half-closes dst.
func copyHalf(dst, src net.Conn) {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	// Hide src's WriteTo: a TCP connection's copies through 32 KiB of its own.
	_, err := io.CopyBuffer(dst, struct{ io.Reader }{src}, *buf)
	if cw, ok := dst.(closeWriter); ok && err == nil && cw.CloseWrite() == nil {
		return
	}
	dst.Close()
	src.Close()
}

// relayDatagrams carries datagrams between local, whose every Read and
// Write is one datagram, and the overlay stream ov, in frames of a 2-byte
// big-endian length and the datagram. It closes both when either fails or
// when no datagram went either way for idle (0 is DefaultIdle).
func relayDatagrams(ov net.Conn, local io.ReadWriteCloser, idle time.Duration) {
	if idle <= 0 {
		idle = DefaultIdle
	}
	var last atomic.Int64
	touch := func() { last.Store(time.Now().UnixNano()) }
	touch()
	done := make(chan struct{})
	var once sync.Once
	stop := func() {
		once.Do(func() {
			close(done)
			ov.Close()
			local.Close()
		})
	}
	go func() { // local to overlay
		frame := make([]byte, 2+maxDatagram)
		for {
			n, err := local.Read(frame[2:])
			if errors.Is(err, syscall.ECONNREFUSED) { // the target's port is closed now; it may open again
				continue
			}
			if err != nil {
				stop()
				return
			}
			touch()
			binary.BigEndian.PutUint16(frame, uint16(n))
			if _, err := ov.Write(frame[:2+n]); err != nil {
				stop()
				return
			}
		}
	}()
	go func() { // overlay to local
		buf := make([]byte, maxDatagram)
		for {
			p, err := readFrame(ov, buf)
			if err != nil {
				stop()
				return
			}
			touch()
			if _, err := local.Write(p); errors.Is(err, net.ErrClosed) {
				stop()
				return
			} // any other failure loses this datagram only, as UDP may
		}
	}()
	tick := time.NewTicker(max(idle/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			if time.Since(time.Unix(0, last.Load())) >= idle {
				stop()
				return
			}
		}
	}
}

// readFrame reads one frame of r into buf and returns its datagram.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	p := buf[:binary.BigEndian.Uint16(n[:])]
	_, err := io.ReadFull(r, p)
	return p, err
}
