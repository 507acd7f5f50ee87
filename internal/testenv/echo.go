package testenv

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// TCPEcho serves on loopback until the test ends, answering each connection
// with what it reads, and ending its stream once the client has ended its
// own (a half close). It returns its address.
func TCPEcho(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String()
}

// UDPEcho answers every datagram on loopback with itself until the test
// ends. It returns its address, and a channel that gets the address each
// datagram came from (dropped when nobody reads them).
func UDPEcho(tb testing.TB) (string, <-chan string) {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pc.Close() })
	from := make(chan string, 100)
	go func() {
		buf := make([]byte, 1<<16)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case from <- addr.String():
			default:
			}
			pc.WriteTo(buf[:n], addr)
		}
	}()
	return pc.LocalAddr().String(), from
}

// EchoOverTCP sends n random bytes to a TCPEcho at addr (or to what stands
// in front of one), ends its stream, and checks that the same bytes come
// back followed by the end of the echo's stream: which arrives only if every
// hop in between passes the half close on.
func EchoOverTCP(addr string, n int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	sent := make([]byte, n)
	rand.Read(sent)
	go func() {
		c.Write(sent)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("reading the echo: %v (after %d of %d bytes)", err, len(got), n)
	}
	if !bytes.Equal(got, sent) {
		return fmt.Errorf("sent %d bytes, got back %d different ones", n, len(got))
	}
	return nil
}
