// Command portico is the Portico CLI: it enables an environment, shares
// local services, and runs the admin calls.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/porticoproxy/portico/internal/apiclient"
)

// version is set at build time.
var version = "dev"

// globals are the flags every command takes.
type globals struct {
	home string
	api  string
}

func main() {
	logrus.SetLevel(logrus.WarnLevel) // the OpenZiti SDK's info lines are noise here
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "portico:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "portico",
		Short: "Put a local service on a public URL through Portico",
		Long: `Portico puts a service that runs on this machine at a public URL, through a
Caddy frontend and an OpenZiti overlay, without opening any inbound port.

  portico enable <account-token> --api http://controller:18080
  portico share public http://localhost:3000
  portico ls`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.home, "home", envOr("PORTICO_HOME", defaultHome()), "directory of this environment's identity and config (env PORTICO_HOME)")
	root.PersistentFlags().StringVar(&g.api, "api", os.Getenv("PORTICO_API"), "controller API address(es), comma-separated, e.g. http://127.0.0.1:18080 (env PORTICO_API; default: the ones saved by enable)")
	root.AddCommand(newEnable(g), newDisable(g), newShare(g), newAccess(g), newUnaccess(g), newGrant(g), newReserve(g), newRelease(g), newDomain(g), newLs(g), newAdmin(g))
	return root
}

// newLogger logs warnings and errors to stderr in a form for people.
func newLogger() *zap.Logger {
	cfg := zap.NewProductionConfig()
	cfg.Encoding = "console"
	cfg.Level = zap.NewAtomicLevelAt(zap.WarnLevel)
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	logger, err := cfg.Build()
	if err != nil {
		return zap.NewNop()
	}
	return logger
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func defaultHome() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ".portico"
	}
	return filepath.Join(dir, "portico")
}

// environment is what enable saves in the home directory.
type environment struct {
	API           string `json:"api"`
	AccountToken  string `json:"account_token"`
	EnvironmentID string `json:"environment_id"`
}

func (g *globals) envFile() string      { return filepath.Join(g.home, "environment.json") }
func (g *globals) identityFile() string { return filepath.Join(g.home, "identity.json") }

var errNotEnabled = errors.New("this machine is not enabled: run `portico enable <account-token> --api <controller>` first")

func (g *globals) loadEnv() (environment, error) {
	raw, err := os.ReadFile(g.envFile())
	if os.IsNotExist(err) {
		return environment{}, errNotEnabled
	}
	if err != nil {
		return environment{}, fmt.Errorf("reading environment: %w", err)
	}
	var env environment
	if err := json.Unmarshal(raw, &env); err != nil {
		return environment{}, fmt.Errorf("reading %s: %w", g.envFile(), err)
	}
	if g.api != "" {
		env.API = g.api
	}
	return env, nil
}

// client loads the environment and returns it with a client of its
// account on the controller.
func (g *globals) client() (environment, *apiclient.Client, error) {
	env, err := g.loadEnv()
	if err != nil {
		return env, nil, err
	}
	return env, apiclient.New(env.API, env.AccountToken), nil
}

// writeFile writes a private file atomically.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
