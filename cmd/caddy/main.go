// Command caddy is Caddy with the standard modules and the Portico modules,
// so that `go build ./cmd/caddy` gives the same binary as xcaddy.sh.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/porticoproxy/portico/caddymodule"
)

func main() {
	caddycmd.Main()
}
