package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile" // the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"go.uber.org/zap"

	"github.com/porticoproxy/portico/internal/policy"
)

// network is the Caddy network under which an agent hands its overlay
// listener to the Caddy it embeds for the web and caddy backends.
const network = "portico-share"

// overlayListeners are the bound listeners Caddy may take, by key.
var overlayListeners sync.Map

func init() {
	caddy.RegisterNetwork(network, func(_ context.Context, _, host, _ string, _ uint, _ net.ListenConfig) (any, error) {
		ln, ok := overlayListeners.Load(host)
		if !ok {
			return nil, fmt.Errorf("no overlay listener %q", host)
		}
		return ln, nil
	})
}

var listenerSeq atomic.Uint64

// WebOptions opt a web share back into what it leaves out by default.
type WebOptions struct {
	// Browse lists directories that have no index file.
	Browse bool
	// ShowHidden serves dotfiles; FollowSymlinks follows symlinks out of the
	// directory (see DirFS).
	ShowHidden, FollowSymlinks bool
}

// WebConfig is the Caddy config that serves dir with Caddy's file server
// over a DirFS.
func WebConfig(dir string, opts WebOptions) ([]byte, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("web backend: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("web backend: %s is not a directory", dir)
	}
	files := map[string]any{"handler": "file_server", "fs": "share", "root": "."}
	if opts.Browse {
		files["browse"] = map[string]any{}
	}
	dirFS := DirFS{Root: dir, ShowHidden: opts.ShowHidden, FollowSymlinks: opts.FollowSymlinks}
	return json.Marshal(map[string]any{
		"apps": map[string]any{
			"caddy.filesystems": map[string]any{"filesystems": []any{map[string]any{
				"name": "share", "file_system": caddyconfig.JSONModuleObject(dirFS, "backend", "portico_dir", nil),
			}}},
			"http": map[string]any{"servers": map[string]any{
				"share": map[string]any{"routes": []any{map[string]any{"handle": []any{files}}}},
			}},
		},
	})
}

// CaddyfileConfig adapts the user's Caddyfile to the Caddy config the agent
// serves over the share. It must define exactly one server: the share is one
// listener.
func CaddyfileConfig(path string) ([]byte, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("caddy backend: %w", err)
	}
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": path})
	if err != nil {
		return nil, fmt.Errorf("caddy backend: adapting %s: %w", path, err)
	}
	var c struct {
		Apps struct {
			HTTP struct {
				Servers map[string]json.RawMessage `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		return nil, fmt.Errorf("caddy backend: reading %s: %w", path, err)
	}
	if n := len(c.Apps.HTTP.Servers); n != 1 {
		return nil, fmt.Errorf("caddy backend: %s defines %d HTTP servers; a share serves exactly one (use one site block, such as http:// { ... })", path, n)
	}
	return cfg, nil
}

// Caddy is the backend of the web and caddy modes: a Caddy config (from
// WebConfig or CaddyfileConfig) served in the agent.
type Caddy struct {
	Config []byte
	// StripIdentity removes the X-Portico-* headers of every request before
	// the config's own routes, for a private share (see Proxy.StripIdentity).
	StripIdentity bool
}

// Serve runs Caddy until ctx ends or ln fails. The config's one server is
// made to listen on ln alone, over plain HTTP: the frontend terminates TLS.
func (c *Caddy) Serve(ctx context.Context, ln net.Listener, _ *zap.Logger) error {
	key := fmt.Sprintf("l%d", listenerSeq.Add(1))
	failed := make(chan error, 1)
	overlayListeners.Store(key, &watchedListener{Listener: ln, failed: failed})
	defer overlayListeners.Delete(key)

	var cfg map[string]any
	if err := json.Unmarshal(c.Config, &cfg); err != nil {
		return fmt.Errorf("reading caddy config: %w", err)
	}
	cfg["admin"] = map[string]any{"disabled": true}
	servers, _ := dig(cfg, "apps", "http", "servers").(map[string]any)
	for _, s := range servers {
		srv := s.(map[string]any)
		srv["listen"] = []string{network + "/" + key + ":80"}
		srv["automatic_https"] = map[string]any{"disable": true}
		srv["protocols"] = []string{"h1"}
		if c.StripIdentity {
			routes, _ := srv["routes"].([]any)
			srv["routes"] = append([]any{stripIdentityRoute}, routes...)
		}
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if err := caddy.Load(out, true); err != nil {
		return fmt.Errorf("starting caddy: %w", err)
	}
	defer caddy.Stop()
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return err
	}
}

// stripIdentityRoute deletes the X-Portico-* request headers and goes on to
// the next route, as policy.StripIdentityHeaders does for the proxy backend.
var stripIdentityRoute = map[string]any{"handle": []any{map[string]any{
	"handler": "headers", "request": map[string]any{"delete": []string{policy.IdentityHeaderPrefix + "*"}},
}}}

func dig(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// watchedListener reports the first Accept error, which means the overlay
// binding is gone, so the agent can bind again.
type watchedListener struct {
	net.Listener
	failed chan error
	once   sync.Once
}

func (l *watchedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		l.once.Do(func() { l.failed <- err })
	}
	return c, err
}

// Close is left to the agent, which owns the overlay binding; Caddy's
// config changes must not unbind the share.
func (l *watchedListener) Close() error { return nil }
