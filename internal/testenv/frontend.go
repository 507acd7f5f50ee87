package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/porticoproxy/portico/deploy"
	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/apitypes"
	"github.com/porticoproxy/portico/internal/zitiident"
)

// EnrollFrontend creates a frontend record that serves namespace (only a
// namespace's frontends may dial its shares), enrolls its OpenZiti identity
// and writes it to dir/<token>.json, the file it returns.
func EnrollFrontend(ctx context.Context, admin *apiclient.Client, dir, description, urlTemplate, namespace string) (apitypes.Frontend, string, error) {
	fe, err := admin.CreateFrontend(ctx, description, urlTemplate)
	if err != nil {
		return fe, "", fmt.Errorf("creating frontend %s: %w", description, err)
	}
	if err := admin.MapNamespace(ctx, fe.Token, namespace); err != nil {
		return fe, "", fmt.Errorf("mapping %s to frontend %s: %w", namespace, description, err)
	}
	identity, err := zitiident.Enroll(fe.EnrollmentJWT)
	if err != nil {
		return fe, "", fmt.Errorf("enrolling frontend %s: %w", description, err)
	}
	file := filepath.Join(dir, fe.Token+".json")
	return fe, file, os.WriteFile(file, identity, 0o600)
}

// FrontendProc writes the Caddyfile of a frontend instance, cfg with its
// storage and cache in dir/name unless cfg says otherwise, to the file
// dir/name.caddyfile it returns, with the process that runs caddy (the
// binary built from cmd/caddy) on it with secret, not yet started.
func FrontendProc(dir, name, caddy, secret string, cfg deploy.Frontend) (p *Proc, caddyfile string, err error) {
	home := filepath.Join(dir, name)
	if cfg.Storage == "" {
		cfg.Storage = "file_system " + filepath.Join(home, "data")
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(home, "cache")
	}
	text, err := cfg.Caddyfile()
	if err != nil {
		return nil, "", err
	}
	caddyfile = filepath.Join(dir, name+".caddyfile")
	if err := os.WriteFile(caddyfile, text, 0o600); err != nil {
		return nil, "", err
	}
	return &Proc{Name: name, Log: filepath.Join(dir, name+".log"),
		Args: []string{caddy, "run", "--config", caddyfile, "--adapter", "caddyfile"},
		Env:  []string{"PORTICO_FRONTEND_SECRET=" + secret, "XDG_DATA_HOME=" + home, "XDG_CONFIG_HOME=" + home}}, caddyfile, nil
}
