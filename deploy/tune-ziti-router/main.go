// Command tune-ziti-router puts Portico's xgress options
// (deploy/ziti-router-xgress.yml) into an OpenZiti edge router's config:
//
//	tune-ziti-router /path/to/router.yaml
//
// Restart the router afterwards. The local stack's scripts run it on the
// router that `ziti edge quickstart` writes.
package main

import (
	"fmt"
	"os"

	"github.com/porticoproxy/portico/deploy"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tune-ziti-router ROUTER_CONFIG")
		os.Exit(2)
	}
	if err := deploy.TuneZitiRouter(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "tune-ziti-router:", err)
		os.Exit(1)
	}
}
