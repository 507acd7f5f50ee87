package testenv

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// DNS is an authoritative DNS server on loopback that answers TXT queries
// from records the test sets, as a domain's own DNS would; every other name
// is NXDOMAIN.
type DNS struct {
	// Addr is the server's host:port (UDP and TCP).
	Addr string

	mu  sync.Mutex
	txt map[string][]string
	udp *dns.Server
	tcp *dns.Server
}

// StartDNS starts a DNS server on a free loopback port, UDP and TCP. The port comes from
// freePorts: a UDP port of the ephemeral range may well be taken for TCP by an outgoing
// connection (it failed a CI run so).
func StartDNS() (*DNS, error) {
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 10 {
		var ports []int
		if ports, err = freePorts(1); err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(ports[0])
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			continue
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			pc.Close()
			continue
		}
		break
	}
	if err != nil {
		return nil, fmt.Errorf("starting a dns server: %w", err)
	}
	d := &DNS{Addr: pc.LocalAddr().String(), txt: map[string][]string{}}
	d.udp = &dns.Server{PacketConn: pc, Handler: d}
	d.tcp = &dns.Server{Listener: ln, Handler: d}
	go d.udp.ActivateAndServe()
	go d.tcp.ActivateAndServe()
	return d, nil
}

// SetTXT replaces the TXT records of name.
func (d *DNS) SetTXT(name string, values ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.txt[dns.Fqdn(strings.ToLower(name))] = values
}

// Close stops the server.
func (d *DNS) Close() {
	d.udp.Shutdown()
	d.tcp.Shutdown()
}

func (d *DNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range req.Question {
		values, ok := d.txt[strings.ToLower(q.Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
			continue
		}
		if q.Qtype != dns.TypeTXT {
			continue
		}
		for _, v := range values {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 0}, Txt: []string{v}})
		}
	}
	w.WriteMsg(m)
}
