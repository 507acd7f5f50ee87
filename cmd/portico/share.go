package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/porticoproxy/portico/internal/agent"
	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/backoff"
	"github.com/porticoproxy/portico/internal/zitiident"
)

func newShare(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "share",
		Short: "Share a local service",
	}
	var namespace string
	var insecure bool
	public := &cobra.Command{
		Use:   "public <target>",
		Short: "Share an HTTP service at a public URL until interrupted",
		Long: `Share an HTTP service (such as http://localhost:3000) at a public URL. The share lives
as long as this command: Ctrl-C or SIGTERM deletes it.`,
		Example: "  portico share public http://localhost:3000\n  portico share public https://localhost:8443 --insecure",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := url.Parse(args[0])
			if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
				return fmt.Errorf("target %q is not an http:// or https:// URL", args[0])
			}
			env, err := g.loadEnv()
			if err != nil {
				return err
			}
			return sharePublic(cmd, g, env, target, namespace, insecure)
		},
	}
	public.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace to share in (default: the only one)")
	public.Flags().BoolVar(&insecure, "insecure", false, "accept a self-signed certificate from an https target")
	cmd.AddCommand(public)
	return cmd
}

func sharePublic(cmd *cobra.Command, g *globals, env environment, target *url.URL, namespace string, insecure bool) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	logger := newLogger()
	defer logger.Sync()

	zc, err := zitiident.NewContext(g.identityFile())
	if err != nil {
		return fmt.Errorf("loading identity: %w", err)
	}
	defer zc.Close()

	cl := apiclient.New(env.API, env.AccountToken)
	sh, err := cl.CreateShare(ctx, apiclient.ShareRequest{EnvironmentID: env.EnvironmentID, Target: target.String(), Namespace: namespace})
	if err != nil {
		return fmt.Errorf("creating share: %w", err)
	}
	// Whatever happens from here on, the share is deleted on the way out.
	var once sync.Once
	remove := func() { once.Do(func() { deleteShare(ctx, cmd, cl, sh.Token) }) }
	defer remove()

	// On Ctrl-C the share is deleted first and the agent stops serving after,
	// so frontends stop routing to it before it is gone: they answer 404,
	// never 502.
	serving, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	go func() {
		select {
		case <-ctx.Done():
			remove()
			stopServing()
		case <-serving.Done():
		}
	}()
	agentShare := &agent.Share{Ziti: zc, Service: sh.Token, Target: target, Insecure: insecure, Logger: logger.Named("agent")}
	return agentShare.Run(serving, func() {
		fmt.Fprintf(out, "Sharing %s as %s\n", target, sh.Token)
		for _, u := range sh.FrontendEndpoints {
			fmt.Fprintf(out, "Public URL: %s\n", u)
		}
		if len(sh.FrontendEndpoints) == 0 {
			fmt.Fprintf(out, "warning: no frontend serves namespace %s yet, so the share has no public URL\n", sh.Namespace)
		}
		fmt.Fprintln(out, "Press Ctrl-C to stop sharing.")
	})
}

// deleteShare deletes the share, retrying for a while when no controller
// answers (one may be restarting). If it still cannot, the controller's
// reaper removes the share once it sees the agent gone.
func deleteShare(ctx context.Context, cmd *cobra.Command, cl *apiclient.Client, token string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	var bo backoff.Backoff
	for {
		err := cl.DeleteShare(dctx, token)
		var apiErr *apiclient.Error
		switch {
		case err == nil:
			fmt.Fprintf(cmd.OutOrStdout(), "Share %s deleted.\n", token)
			return
		case apiclient.IsStatus(err, 404):
			fmt.Fprintf(cmd.OutOrStdout(), "Share %s deleted (the controller had already removed it).\n", token)
			return
		case errors.As(err, &apiErr) || dctx.Err() != nil:
			fmt.Fprintf(cmd.ErrOrStderr(), "portico: deleting share %s: %v (the controller removes it once it sees the agent gone)\n", token, err)
			return
		}
		backoff.Sleep(dctx, bo.Next())
	}
}

func newLs(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List your shares",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := g.loadEnv()
			if err != nil {
				return err
			}
			shares, err := apiclient.New(env.API, env.AccountToken).Shares(cmd.Context())
			if err != nil {
				return fmt.Errorf("listing shares: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOKEN\tMODE\tTARGET\tURL\tCREATED")
			for _, s := range shares {
				u := "-"
				if len(s.FrontendEndpoints) > 0 {
					u = s.FrontendEndpoints[0]
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Token, s.ShareMode, s.Target, u, s.CreatedAt.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
}
