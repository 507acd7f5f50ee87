package testenv

// This file holds a TCP proxy that tests put between a client and a real service to break
// the path between them.

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections to a service. Frozen, it swallows every byte in both
// directions, like a network path that died without resetting anything; down, it drops every
// connection and refuses new ones, like a service that stopped.
type Proxy struct {
	ln     net.Listener
	target string
	frozen atomic.Bool
	down   atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
}

// NewProxy starts a proxy to target on a loopback port; it stops with the test.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target}
	go p.serve()
	tb.Cleanup(func() {
		ln.Close()
		p.closeAll()
	})
	return p
}

// Addr is where clients connect instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go p.pipe(u, c)
		go p.pipe(c, u)
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Freeze swallows everything from now on, without closing anything.
func (p *Proxy) Freeze() { p.frozen.Store(true) }

// Thaw drops the connections that lost bytes while frozen. Connections accepted later are
// registered under mu before they forward anything, so none of them is caught in between.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeAllLocked()
	p.frozen.Store(false)
}

// Down drops every connection and refuses new ones until Up.
func (p *Proxy) Down() {
	p.down.Store(true)
	p.closeAll()
}

// Up forwards new connections again.
func (p *Proxy) Up() { p.down.Store(false) }

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeAllLocked()
}

func (p *Proxy) closeAllLocked() {
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
