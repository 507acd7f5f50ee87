// Command portico-controller runs the Portico controller.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller"
)

func main() {
	var configPath string
	cmd := &cobra.Command{
		Use:   "portico-controller --config controller.yaml",
		Short: "Run the Portico controller: REST API, gRPC sync service and OpenZiti automation",
		Long: `Run the Portico controller.

The configuration is a YAML file; ${VAR} references are taken from the environment:

  api: 127.0.0.1:18080          # REST API listen address
  grpc: 127.0.0.1:18081         # sync service listen address (frontends connect here)
  store: sqlite:portico.db      # the database
  admin_token: ${PORTICO_ADMIN_TOKEN}
  ziti:
    management_url: https://127.0.0.1:1280
    username: admin
    password: ${ZITI_PWD}
    ca_file: ""                 # empty: trust the controller's well-known CAs`,
		Version:       controller.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := controller.LoadConfig(configPath)
			if err != nil {
				return err
			}
			logger, err := zap.NewProduction()
			if err != nil {
				return err
			}
			defer logger.Sync()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			c, err := controller.New(ctx, cfg, logger)
			if err != nil {
				return err
			}
			go func() {
				<-ctx.Done()
				logger.Info("stopping")
				c.Close()
			}()
			return c.Serve()
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "controller.yaml", "path of the configuration file")
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "portico-controller:", err)
		os.Exit(1)
	}
}
