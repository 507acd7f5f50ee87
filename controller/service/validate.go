package service

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// validDNSName checks a lower-case host name of one or more labels.
func validDNSName(name string) error {
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%q is not a DNS name", name)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if !labelRE.MatchString(l) {
			return fmt.Errorf("%q is not a DNS name: label %q must be 1-63 of a-z, 0-9 and '-', not starting or ending with '-'", name, l)
		}
	}
	// A top-level label of digits alone is no domain (RFC 3696), and it
	// makes 192.0.2.1 look like one.
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" {
		return fmt.Errorf("%q is an IP address or ends in a numeric label, not a DNS name", name)
	}
	return nil
}

// validTarget checks what an agent serves in a backend mode: an http(s) URL
// to proxy, a directory or Caddyfile on the agent's machine, or host:port.
func validTarget(backendMode, target string) error {
	switch backendMode {
	case "proxy":
		u, err := url.Parse(target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid(fmt.Sprintf("target %q is not an http:// or https:// URL", target))
		}
	case "tcpTunnel", "udpTunnel":
		if _, port, err := net.SplitHostPort(target); err != nil || port == "" {
			return invalid(fmt.Sprintf("target %q is not a host:port address", target))
		}
	default:
		if target == "" {
			return invalid("target is required: the " + backendMode + " backend serves a path on the agent's machine")
		}
	}
	return nil
}

// validURLTemplate checks a frontend's URL template, such as "https://{host}".
func validURLTemplate(tmpl string) error {
	u, err := url.Parse(strings.ReplaceAll(tmpl, "{host}", "x.example.com"))
	if !strings.Contains(tmpl, "{host}") || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("url_template %q must be an http(s) URL containing {host}, like https://{host}", tmpl)
	}
	return nil
}
