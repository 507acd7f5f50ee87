package testenv

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// WaitOneListener waits until one socket at most listens on the IPv4 address addr. A Caddy
// reload binds a new SO_REUSEPORT socket beside the old one and closes the old one after
// caddy.Load has returned; Linux resets the connections queued on the closed socket
// (unless net.ipv4.tcp_migrate_req is set), so a request sent in between may fail. Tests
// that reload and then send requests wait for the handover first.
func WaitOneListener(addr string, d time.Duration) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("listener address %q is not an IPv4 host:port", addr)
	}
	b := ap.Addr().As4()
	// /proc/net/tcp writes the address as the 32-bit value in host (little-endian) order.
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", b[3], b[2], b[1], b[0], ap.Port())
	deadline := time.Now().Add(d)
	for {
		n, err := listeners(want)
		if err != nil || n <= 1 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d sockets still listen on %s after %s", n, addr, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// listeners counts the sockets in state LISTEN at local, as /proc/net/tcp writes it.
func listeners(local string) (int, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 3 && fields[1] == local && fields[3] == "0A" {
			n++
		}
	}
	return n, sc.Err()
}
