package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/zitiident"
)

// accountTokenArg is enable's account token: the argument, standard input
// for "-", or PORTICO_ACCOUNT_TOKEN without one.
func accountTokenArg(cmd *cobra.Command, args []string) (string, error) {
	switch {
	case len(args) == 1 && args[0] == "-":
		return readSecretFile(cmd, "-")
	case len(args) == 1:
		return args[0], nil
	case os.Getenv("PORTICO_ACCOUNT_TOKEN") != "":
		return os.Getenv("PORTICO_ACCOUNT_TOKEN"), nil
	}
	return "", errors.New(`the account token is required: as the argument, "-" to read it from standard input, or PORTICO_ACCOUNT_TOKEN`)
}

func newEnable(g *globals) *cobra.Command {
	var description string
	cmd := &cobra.Command{
		Use:   "enable [<account-token> | -]",
		Short: "Enable this machine: create an environment and enroll its OpenZiti identity locally",
		Long: `Enable this machine as an environment of your account. The controller creates an
OpenZiti identity for it, and this command enrolls that identity here, so its private key
never leaves this machine. The identity and config go to --home.

The account token comes from the argument, from standard input when the argument is "-", or
from PORTICO_ACCOUNT_TOKEN when there is no argument. ` + secretsHelp,
		Example: "  PORTICO_ACCOUNT_TOKEN=... portico enable --api http://controller:18080\n  portico enable - --api http://controller:18080 < token.txt",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.api == "" {
				return errors.New("--api is required (the controller's API address, e.g. http://127.0.0.1:18080)")
			}
			if _, err := os.Stat(g.envFile()); err == nil {
				return fmt.Errorf("this machine is already enabled (%s); run `portico disable` first", g.envFile())
			}
			if description == "" {
				description, _ = os.Hostname()
			}
			host, _ := os.Hostname()
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			accountToken, err := accountTokenArg(cmd, args)
			if err != nil {
				return err
			}
			cl := apiclient.New(g.api, accountToken)
			env, err := cl.CreateEnvironment(ctx, description, host)
			if err != nil {
				return fmt.Errorf("creating environment: %w", err)
			}
			identity, err := zitiident.Enroll(env.EnrollmentJWT)
			if err != nil {
				cl.DeleteEnvironment(context.WithoutCancel(ctx), env.ID)
				return fmt.Errorf("enrolling the environment's identity: %w", err)
			}
			saved, _ := json.MarshalIndent(environment{API: g.api, AccountToken: accountToken, EnvironmentID: env.ID}, "", "  ")
			if err := writeFile(g.identityFile(), identity); err != nil {
				return fmt.Errorf("saving identity: %w", err)
			}
			if err := writeFile(g.envFile(), saved); err != nil {
				return fmt.Errorf("saving environment: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Enabled environment %s; identity saved to %s\n", env.ID, g.identityFile())
			return nil
		},
	}
	cmd.Flags().StringVarP(&description, "description", "d", "", "a description of this environment (default: the host name)")
	return cmd
}

func newDisable(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "disable",
		Short: "Delete this machine's environment, its shares and its local identity",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := g.loadEnv()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			err = apiclient.New(env.API, env.AccountToken).DeleteEnvironment(ctx, env.EnvironmentID)
			if err != nil && !apiclient.IsStatus(err, 404) {
				return fmt.Errorf("deleting environment: %w", err)
			}
			if err := errors.Join(os.Remove(g.envFile()), os.Remove(g.identityFile())); err != nil {
				return fmt.Errorf("removing local files: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Disabled environment %s\n", env.EnvironmentID)
			return nil
		},
	}
}
