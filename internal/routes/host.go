package routes

import "strings"

// NormalizeHost turns a request's Host into a table key: lower case, with no
// port and no trailing dot. It does not allocate when the host is already in
// that form, which is the common case.
func NormalizeHost(host string) string {
	if strings.HasPrefix(host, "[") { // IPv6 literal, possibly with a port
		if i := strings.IndexByte(host, ']'); i > 0 {
			host = host[1:i]
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host, ':') == i {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}
