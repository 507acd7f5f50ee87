package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/openziti/sdk-golang/ziti"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/porticoproxy/portico/internal/agent"
	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/apitypes"
)

// defaultBind is where "portico access private" serves a share.
const defaultBind = "127.0.0.1:9191"

func newSharePrivate(g *globals) *cobra.Command {
	bf := backendFlags{private: true}
	var closed bool
	cmd := &cobra.Command{
		Use:   "private <target>",
		Short: "Share a service with chosen peers, without a public URL, until interrupted",
		Long: `Share a service privately: it gets no public URL, and it is reached only over OpenZiti,
from a local port that "portico access private <token>" opens on a peer's machine. Any account
that knows the token may access the share; with --closed, only the accounts you grant with
"portico grant <token> <account-email>". Ctrl-C or SIGTERM deletes the share.

The target is an http:// or https:// URL (--backend-mode proxy, the default), a directory
(web) or a Caddyfile (caddy) as for public shares, or host:port for raw TCP (tcpTunnel) or
UDP datagrams (udpTunnel).`,
		Example: `  portico share private http://localhost:3000
  portico share private localhost:5432 --backend-mode tcpTunnel --closed
  portico share private 127.0.0.1:53 --backend-mode udpTunnel`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ag, target, err := bf.agent(args[0])
			if err != nil {
				return err
			}
			env, cl, err := g.client()
			if err != nil {
				return err
			}
			return runAgent(cmd, g, func(ctx context.Context, zc ziti.Context, logger *zap.Logger) (*session, error) {
				sh, err := cl.CreateShare(ctx, apitypes.ShareRequest{EnvironmentID: env.EnvironmentID, ShareMode: "private", BackendMode: bf.mode, Target: target, Closed: closed})
				if err != nil {
					return nil, fmt.Errorf("creating share: %w", err)
				}
				ag.Ziti, ag.Logger, ag.Service = zc, logger, sh.Token
				return &session{
					run:      &ag,
					announce: func(out io.Writer) { printPrivateShare(out, target, sh) },
					leave:    func(ctx context.Context) { deleteShare(ctx, cmd, cl, sh.Token) },
				}, nil
			})
		},
	}
	bf.register(cmd)
	cmd.Flags().BoolVar(&closed, "closed", false, "admit only the accounts you grant (portico grant), not everyone who knows the token")
	return cmd
}

// hostPort checks an address such as 127.0.0.1:9191 or localhost:5432.
func hostPort(what, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		return fmt.Errorf("%s %q is not a host:port address", what, addr)
	}
	return nil
}

func printPrivateShare(out io.Writer, target string, sh apitypes.Share) {
	fmt.Fprintf(out, "Sharing %s privately (%s)\n", target, sh.BackendMode)
	fmt.Fprintf(out, "Share token: %s\n", sh.Token)
	fmt.Fprintf(out, "Access it with: portico access private %s\n", sh.Token)
	if sh.Closed {
		fmt.Fprintf(out, "The share is closed: admit an account with: portico grant %s <account-email>\n", sh.Token)
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop sharing.")
}

func newAccess(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "access",
		Short: "Reach a private share from this machine",
	}
	var bind string
	var idle time.Duration
	private := &cobra.Command{
		Use:   "private <share-token>",
		Short: "Serve a private share on a local address until interrupted",
		Long: `Serve someone's private share on a local address of this machine, over OpenZiti. An HTTP
(proxy) or tcpTunnel share is served on a TCP port, a udpTunnel share on a UDP port. The access
lasts as long as this command: Ctrl-C or SIGTERM ends it. If this command crashed, end the
access it left with "portico unaccess <share-token>".`,
		Example: `  portico access private 2kq7x0c9d1ab
  portico access private 2kq7x0c9d1ab --bind 127.0.0.1:5432`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := hostPort("--bind", bind); err != nil {
				return err
			}
			if idle <= 0 {
				return fmt.Errorf("--udp-idle-timeout %s must be positive", idle)
			}
			env, cl, err := g.client()
			if err != nil {
				return err
			}
			return runAgent(cmd, g, func(ctx context.Context, zc ziti.Context, logger *zap.Logger) (*session, error) {
				acc, err := cl.CreateAccess(ctx, args[0], env.EnvironmentID)
				if err != nil {
					return nil, fmt.Errorf("accessing share %s: %w", args[0], err)
				}
				a := &agent.Access{Ziti: zc, Service: acc.ShareToken, Bind: bind, UDP: acc.BackendMode == "udpTunnel", Idle: idle, Logger: logger}
				return &session{
					run:      a,
					announce: func(out io.Writer) { printAccess(out, acc, a.Addr()) },
					leave:    func(ctx context.Context) { removeAccess(ctx, cmd, cl, acc) },
				}, nil
			})
		},
	}
	private.Flags().StringVar(&bind, "bind", defaultBind, "the local address to serve the share on")
	private.Flags().DurationVar(&idle, "udp-idle-timeout", agent.DefaultIdle, "end a UDP client's session after this long without a datagram")
	cmd.AddCommand(private)
	return cmd
}

func printAccess(out io.Writer, acc apitypes.Access, addr net.Addr) {
	fmt.Fprintf(out, "Accessing share %s (%s)\n", acc.ShareToken, acc.BackendMode)
	fmt.Fprintf(out, "Listening on %s (%s)\n", addr, addr.Network())
	if acc.BackendMode == "proxy" {
		fmt.Fprintf(out, "Open http://%s/\n", addr)
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop.")
}

// removeAccess ends the access, retrying for a while when no controller
// answers; "portico unaccess" ends it later if it still cannot.
func removeAccess(ctx context.Context, cmd *cobra.Command, cl *apiclient.Client, acc apitypes.Access) {
	err := retry(ctx, cmd, "removing access", func(ctx context.Context) error { return cl.DeleteAccess(ctx, acc.ShareToken, acc.ID) })
	switch {
	case err == nil:
		fmt.Fprintf(cmd.OutOrStdout(), "Access to share %s removed.\n", acc.ShareToken)
	case apiclient.IsStatus(err, 404):
		fmt.Fprintf(cmd.OutOrStdout(), "Access to share %s removed (the share is gone).\n", acc.ShareToken)
	default:
		fmt.Fprintf(cmd.ErrOrStderr(), "portico: removing access to share %s: %v (run: portico unaccess %s)\n", acc.ShareToken, err, acc.ShareToken)
	}
}

func newUnaccess(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "unaccess <share-token>",
		Short:   "End this machine's accesses to a private share, such as one a crash left",
		Example: "  portico unaccess 2kq7x0c9d1ab",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, cl, err := g.client()
			if err != nil {
				return err
			}
			n, err := cl.DeleteEnvironmentAccesses(cmd.Context(), args[0], env.EnvironmentID)
			if err != nil {
				return fmt.Errorf("ending accesses to share %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Ended %d access(es) to share %s\n", n, args[0])
			return nil
		},
	}
}

func newGrant(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "grant <share-token> <account-email>",
		Short:   "Let an account access one of your closed private shares",
		Example: "  portico share private localhost:5432 --backend-mode tcpTunnel --closed\n  portico grant 2kq7x0c9d1ab bob@example.com",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cl, err := g.client()
			if err != nil {
				return err
			}
			if err := cl.GrantShare(cmd.Context(), args[0], args[1]); err != nil {
				return fmt.Errorf("granting share %s: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s may now access share %s with: portico access private %s\n", args[1], args[0], args[0])
			return nil
		},
	}
}
