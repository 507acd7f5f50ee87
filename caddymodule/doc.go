// Package caddymodule holds Portico's Caddy modules, which make Caddy a
// Portico frontend:
//
//   - portico, the app: the frontend's runtime (OpenZiti context, sync
//     client, route table), kept across config reloads (app.go);
//   - http.handlers.portico_share: Host → share, and the share's policy
//     (handler.go, oauth*.go);
//   - the portico dynamic upstreams and transport, which dial shares over
//     OpenZiti (upstreams.go, transport.go);
//   - tls.permission.portico, on-demand certificates for live names only
//     (permission.go);
//   - caddy.storage.portico_postgres, certificates shared by a cluster
//     (storage.go);
//   - admin.api.portico, the state on Caddy's admin endpoint (admin.go);
//   - and their Caddyfile syntax (caddyfile.go).
package caddymodule
