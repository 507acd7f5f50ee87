package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/openziti/sdk-golang/ziti"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/porticoproxy/portico/controller/token"
	"github.com/porticoproxy/portico/internal/agent"
	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/apitypes"
	"github.com/porticoproxy/portico/internal/backoff"
	"github.com/porticoproxy/portico/internal/zitiident"
)

// drainFor is how long an agent of a reserved share keeps serving after it
// left the rotation, so frontends have applied the change and its requests
// in flight finish.
const drainFor = time.Second

func newShare(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "share",
		Short: "Share a local service",
	}
	var namespace string
	var bf backendFlags
	var pf policyFlags
	public := &cobra.Command{
		Use:   "public <target>",
		Short: "Share an HTTP service at a public URL until interrupted",
		Long: `Share an HTTP service (such as http://localhost:3000) at a public URL. The share lives
as long as this command: Ctrl-C or SIGTERM deletes it.

` + secretsHelp,
		Example: `  portico share public http://localhost:3000
  portico share public https://localhost:8443 --insecure
  portico share public ./site --backend-mode web
  portico share public ./Caddyfile --backend-mode caddy
  portico share public http://localhost:3000 --basic-auth-file users.txt --deny-ip 203.0.113.0/24`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ag, target, err := bf.agent(args[0])
			if err != nil {
				return err
			}
			pol, err := pf.build(cmd)
			if err != nil {
				return err
			}
			env, cl, err := g.client()
			if err != nil {
				return err
			}
			return runAgent(cmd, g, func(ctx context.Context, zc ziti.Context, logger *zap.Logger) (*session, error) {
				sh, err := cl.CreateShare(ctx, apitypes.ShareRequest{EnvironmentID: env.EnvironmentID, BackendMode: bf.mode, Target: target, Namespace: namespace, Policy: pol})
				if err != nil {
					return nil, fmt.Errorf("creating share: %w", err)
				}
				ag.Ziti, ag.Logger, ag.Service = zc, logger, sh.Token
				return &session{
					run:      &ag,
					announce: func(out io.Writer) { printShare(out, target, sh) },
					leave:    func(ctx context.Context) { deleteShare(ctx, cmd, cl, sh.Token) },
				}, nil
			})
		},
	}
	public.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace to share in (default: the only one)")
	bf.register(public)
	pf.register(public)
	cmd.AddCommand(public, newShareReserved(g), newSharePrivate(g))
	return cmd
}

func newShareReserved(g *globals) *cobra.Command {
	var namespace string
	var bf backendFlags
	cmd := &cobra.Command{
		Use:   "reserved <name> <target>",
		Short: "Serve a reserved name until interrupted",
		Long: `Serve a name made with "portico reserve". The name and its URL outlive this command:
stopping it takes this agent out of the name's rotation, and running it again (after a
crash, too) serves the same URL. Several agents may serve one name; the frontends
balance requests across them.`,
		Example: "  portico reserve myapp\n  portico share reserved myapp http://localhost:3000",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ag, target, err := bf.agent(args[1])
			if err != nil {
				return err
			}
			_, cl, err := g.client()
			if err != nil {
				return err
			}
			return runAgent(cmd, g, func(ctx context.Context, zc ziti.Context, logger *zap.Logger) (*session, error) {
				sh, err := cl.ShareByName(ctx, args[0], namespace)
				if err != nil {
					return nil, err
				}
				if !sh.Reserved {
					return nil, fmt.Errorf("share %s is not reserved; reserve a name with portico reserve", args[0])
				}
				id := "agent-" + token.New(10)
				// Joining the rotation only once bound means no frontend
				// ever dials an agent that is not there yet. An agent that
				// had to bind again joins again: the controller may have
				// taken it out of the rotation while it was unbound.
				join := func(ctx context.Context) error {
					if err := cl.AddAgent(ctx, sh.Token, id, target); err != nil && !apiclient.IsStatus(err, 409) {
						return fmt.Errorf("joining the share's agents: %w", err)
					}
					return nil
				}
				ag.Ziti, ag.Logger, ag.Service, ag.Identity, ag.Rejoin = zc, logger, sh.Token, id, join
				return &session{
					run:      &ag,
					announce: func(out io.Writer) { printShare(out, target, sh) },
					join:     join,
					leave: func(ctx context.Context) {
						retry(ctx, cmd, "leaving share "+sh.Name, func(ctx context.Context) error {
							err := cl.RemoveAgent(ctx, sh.Token, id)
							if apiclient.IsStatus(err, 404) {
								return nil
							}
							return err
						})
						time.Sleep(drainFor)
					},
				}, nil
			})
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "the namespace of the name (default: wherever you reserved it)")
	bf.register(cmd)
	return cmd
}

// backendFlags say what an agent serves.
type backendFlags struct {
	private  bool // raw TCP and UDP tunnels too
	mode     string
	insecure bool
	web      agent.WebOptions
	idle     time.Duration
}

func (b *backendFlags) register(cmd *cobra.Command) {
	modes := "proxy (an http(s) URL), web (a directory, served by Caddy's file server) or caddy (your Caddyfile)"
	if b.private {
		modes = "proxy (an http(s) URL), web (a directory), caddy (your Caddyfile), tcpTunnel or udpTunnel (host:port)"
		cmd.Flags().DurationVar(&b.idle, "udp-idle-timeout", agent.DefaultIdle, "udpTunnel: end a session after this long without a datagram")
	}
	cmd.Flags().StringVar(&b.mode, "backend-mode", "proxy", "what the target is: "+modes)
	cmd.Flags().BoolVar(&b.insecure, "insecure", false, "proxy: accept a self-signed certificate from an https target")
	cmd.Flags().BoolVar(&b.web.Browse, "browse", false, "web: list directories that have no index file")
	cmd.Flags().BoolVar(&b.web.ShowHidden, "show-hidden", false, "web: serve files and directories whose names start with a dot (.env, .git, …), hidden by default")
	cmd.Flags().BoolVar(&b.web.FollowSymlinks, "follow-symlinks", false, "web: follow symlinks that lead out of the directory, refused by default")
}

// agent checks the target for the backend mode and returns the agent that
// serves it, and the target as the controller records it.
func (b *backendFlags) agent(arg string) (agent.Share, string, error) {
	switch b.mode {
	case "proxy":
		target, err := url.Parse(arg)
		if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
			return agent.Share{}, "", fmt.Errorf("target %q is not an http:// or https:// URL", arg)
		}
		return agent.Share{Backend: &agent.Proxy{Target: target, Insecure: b.insecure, StripIdentity: b.private}}, target.String(), nil
	case "web", "caddy":
		path, err := filepath.Abs(arg)
		if err != nil {
			return agent.Share{}, "", err
		}
		var cfg []byte
		if b.mode == "web" {
			cfg, err = agent.WebConfig(path, b.web)
		} else {
			cfg, err = agent.CaddyfileConfig(path)
		}
		return agent.Share{Backend: &agent.Caddy{Config: cfg, StripIdentity: b.private}}, path, err
	case "tcpTunnel", "udpTunnel":
		if !b.private {
			return agent.Share{}, "", fmt.Errorf("--backend-mode %s needs a private share (portico share private): frontends speak HTTP", b.mode)
		}
		if err := hostPort("target", arg); err != nil {
			return agent.Share{}, "", err
		}
		if b.mode == "tcpTunnel" {
			return agent.Share{Backend: &agent.TCPTunnel{Address: arg}}, arg, nil
		}
		if b.idle <= 0 {
			return agent.Share{}, "", fmt.Errorf("--udp-idle-timeout %s must be positive", b.idle)
		}
		return agent.Share{Backend: &agent.UDPTunnel{Address: arg, Idle: b.idle}}, arg, nil
	}
	return agent.Share{}, "", fmt.Errorf("--backend-mode %q is not one of proxy, web, caddy, tcpTunnel or udpTunnel", b.mode)
}

// session is one run of an agent, or of an accessor: what serves, what it
// says once serving, and how it joins and leaves the share.
type session struct {
	run      runner
	announce func(out io.Writer)
	join     func(ctx context.Context) error // optional, once bound
	leave    func(ctx context.Context)
}

// runner serves until ctx ends and calls ready once serving: an agent.Share
// or an agent.Access.
type runner interface {
	Run(ctx context.Context, ready func() error) error
}

// runAgent starts a session with this environment's identity and serves it
// until interrupted. On Ctrl-C the agent leaves first and stops serving
// after, so frontends stop routing to it before it is gone: they never see
// it vanish under a request.
func runAgent(cmd *cobra.Command, g *globals, start func(ctx context.Context, zc ziti.Context, logger *zap.Logger) (*session, error)) error {
	ctx := cmd.Context()
	logger := newLogger()
	defer logger.Sync()

	zc, err := zitiident.NewContext(g.identityFile())
	if err != nil {
		return fmt.Errorf("loading identity: %w", err)
	}
	defer zc.Close()
	go warnOverlay(ctx, g, logger)

	s, err := start(ctx, zc, logger.Named("agent"))
	if err != nil {
		return err
	}
	var once sync.Once
	leave := func() { once.Do(func() { s.leave(ctx) }) }
	defer leave()

	serving, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	go func() {
		select {
		case <-ctx.Done():
			leave()
			stopServing()
		case <-serving.Done():
		}
	}()
	return s.run.Run(serving, func() error {
		if s.join != nil {
			if err := s.join(ctx); err != nil {
				return err
			}
		}
		s.announce(cmd.OutOrStdout())
		return nil
	})
}

// warnOverlay logs what the controller says is wrong with the OpenZiti network, such as a
// router that lets processes of one identity break each other's dials: the user then knows
// why a share may not answer. A controller that cannot tell is no reason to stop.
func warnOverlay(ctx context.Context, g *globals, logger *zap.Logger) {
	_, cl, err := g.client()
	if err != nil {
		return
	}
	warnings, err := cl.OverlayWarnings(ctx)
	if err != nil {
		logger.Debug("asking the controller about the overlay", zap.Error(err))
		return
	}
	for _, w := range warnings {
		logger.Warn(w)
	}
}

func printShare(out io.Writer, target string, sh apitypes.Share) {
	fmt.Fprintf(out, "Sharing %s as %s\n", target, sh.Name)
	for _, u := range sh.FrontendEndpoints {
		fmt.Fprintf(out, "Public URL: %s\n", u)
	}
	if len(sh.FrontendEndpoints) == 0 {
		fmt.Fprintf(out, "warning: no frontend serves namespace %s yet, so the share has no public URL\n", sh.Namespace)
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop sharing.")
}

// deleteShare deletes the share, retrying for a while when no controller
// answers (one may be restarting). If it still cannot, the controller's
// reaper removes the share once it sees the agent gone.
func deleteShare(ctx context.Context, cmd *cobra.Command, cl *apiclient.Client, token string) {
	err := retry(ctx, cmd, "deleting share "+token, func(ctx context.Context) error { return cl.DeleteShare(ctx, token) })
	switch {
	case err == nil:
		fmt.Fprintf(cmd.OutOrStdout(), "Share %s deleted.\n", token)
	case apiclient.IsStatus(err, 404):
		fmt.Fprintf(cmd.OutOrStdout(), "Share %s deleted (the controller had already removed it).\n", token)
	default:
		fmt.Fprintf(cmd.ErrOrStderr(), "portico: deleting share %s: %v (the controller removes it once it sees the agent gone)\n", token, err)
	}
}

// retry calls fn until it gets an answer from a controller, for up to 20 s:
// a controller may be restarting. It returns fn's last error.
func retry(ctx context.Context, cmd *cobra.Command, what string, fn func(ctx context.Context) error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	var bo backoff.Backoff
	for {
		err := fn(rctx)
		var apiErr *apiclient.Error
		if err == nil || errors.As(err, &apiErr) || rctx.Err() != nil {
			return err
		}
		backoff.Sleep(rctx, bo.Next())
	}
}

func newLs(g *globals) *cobra.Command {
	var limit int
	var cursor string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List your shares",
		Long: `List your shares, oldest first.

With --limit, ls prints one page of that many and, when there are more, the
command that prints the next page.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit %d: want a positive number of shares", limit)
			}
			_, cl, err := g.client()
			if err != nil {
				return err
			}
			var shares []apitypes.Share
			var next string
			if limit > 0 || cursor != "" {
				shares, next, err = cl.SharesPage(cmd.Context(), limit, cursor)
			} else {
				shares, err = cl.Shares(cmd.Context())
			}
			if err != nil {
				return fmt.Errorf("listing shares: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOKEN\tNAME\tMODE\tRESERVED\tTARGET\tURL\tCREATED")
			for _, s := range shares {
				u := "-"
				if len(s.FrontendEndpoints) > 0 {
					u = s.FrontendEndpoints[0]
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\t%s\n", s.Token, s.Name, s.ShareMode, s.Reserved, orDash(s.Target), u, s.CreatedAt.Local().Format(time.DateTime))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if next != "" {
				more := "portico ls --cursor " + next
				if limit > 0 {
					more += " --limit " + strconv.Itoa(limit)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "More:", more)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "print at most this many shares (one page; the controller allows up to 1000)")
	cmd.Flags().StringVar(&cursor, "cursor", "", "start at this page, as the previous page's \"More:\" line gives it")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
