// Package portico is the root of the Portico module. Importing it registers
// Portico's Caddy modules, which is what `xcaddy build --with
// github.com/porticoproxy/portico` does.
package portico

import _ "github.com/porticoproxy/portico/caddymodule"
