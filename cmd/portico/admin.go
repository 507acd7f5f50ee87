package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/zitiident"
)

func newAdmin(g *globals) *cobra.Command {
	var adminToken, adminTokenFile string
	admin := &cobra.Command{
		Use:   "admin",
		Short: "Administer the controller: accounts, namespaces and frontends",
		Long:  "Administer the controller: accounts, namespaces and frontends.\n\n" + secretsHelp,
	}
	admin.PersistentFlags().StringVar(&adminToken, "admin-token", os.Getenv("PORTICO_ADMIN_TOKEN"), "the controller's admin token (env PORTICO_ADMIN_TOKEN, which keeps it out of the process list)")
	admin.PersistentFlags().StringVar(&adminTokenFile, "admin-token-file", "", `read the admin token from this file ("-" for standard input)`)
	client := func(cmd *cobra.Command) (*apiclient.Client, error) {
		if g.api == "" {
			return nil, errors.New("--api (or PORTICO_API) is required for admin commands")
		}
		token := adminToken
		if adminTokenFile != "" {
			var err error
			if token, err = readSecretFile(cmd, adminTokenFile); err != nil {
				return nil, fmt.Errorf("--admin-token-file: %w", err)
			}
		}
		if token == "" {
			return nil, errors.New("--admin-token-file, PORTICO_ADMIN_TOKEN or --admin-token is required")
		}
		return apiclient.New(g.api, token), nil
	}

	create := &cobra.Command{Use: "create", Short: "Create an account, a namespace or a frontend"}
	create.AddCommand(&cobra.Command{
		Use:   "account <email>",
		Short: "Create an account and print its token (shown only once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := client(cmd)
			if err != nil {
				return err
			}
			a, err := cl.CreateAccount(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("creating account: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "account: %s\nemail: %s\ntoken: %s\n", a.ID, a.Email, a.Token)
			return nil
		},
	})
	var closed bool
	namespace := &cobra.Command{
		Use:   "namespace <dns-suffix>",
		Short: "Create a namespace, such as share.example.com",
		Long: `Create a namespace. Every account may share in an open namespace; a closed one
(--closed) takes only the accounts granted it with "portico admin grant".`,
		Example: "  portico admin create namespace share.example.com\n  portico admin create namespace team.example.com --closed",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := client(cmd)
			if err != nil {
				return err
			}
			n, err := cl.CreateNamespace(cmd.Context(), args[0], !closed)
			if err != nil {
				return fmt.Errorf("creating namespace: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "namespace: %s (%s)\n", n.Name, openness(n.Open))
			return nil
		},
	}
	namespace.Flags().BoolVar(&closed, "closed", false, "take shares only from accounts granted the namespace")
	create.AddCommand(namespace)
	admin.AddCommand(&cobra.Command{
		Use:     "grant <namespace> <account-email>",
		Short:   "Let an account share in a closed namespace",
		Example: "  portico admin grant team.example.com alice@example.com",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := client(cmd)
			if err != nil {
				return err
			}
			if err := cl.GrantNamespace(cmd.Context(), args[0], args[1]); err != nil {
				return fmt.Errorf("granting namespace: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s may now share in %s\n", args[1], args[0])
			return nil
		},
	})
	var urlTemplate, description, identityOut string
	frontend := &cobra.Command{
		Use:   "frontend --identity-out <file>",
		Short: "Create a frontend, enroll its OpenZiti identity into a file and print its token and secret",
		Long: `Create a frontend record. Its OpenZiti identity is enrolled here and written to
--identity-out; give that file, the token and the secret to the frontend's portico app.`,
		Example: "  portico admin create frontend --url-template 'https://{host}' --identity-out frontend.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if identityOut == "" {
				return errors.New("--identity-out is required")
			}
			cl, err := client(cmd)
			if err != nil {
				return err
			}
			f, err := cl.CreateFrontend(cmd.Context(), description, urlTemplate)
			if err != nil {
				return fmt.Errorf("creating frontend: %w", err)
			}
			identity, err := zitiident.Enroll(f.EnrollmentJWT)
			if err != nil {
				return fmt.Errorf("enrolling frontend %s's identity: %w", f.Token, err)
			}
			if err := writeFile(identityOut, identity); err != nil {
				return fmt.Errorf("saving identity: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "frontend: %s\nsecret: %s\nidentity: %s\n", f.Token, f.Secret, identityOut)
			return nil
		},
	}
	frontend.Flags().StringVar(&urlTemplate, "url-template", "https://{host}", "how users reach a share's host through this frontend")
	frontend.Flags().StringVarP(&description, "description", "d", "", "a description of the frontend")
	frontend.Flags().StringVar(&identityOut, "identity-out", "", "file to write the frontend's enrolled identity to")
	create.AddCommand(frontend)

	mapCmd := &cobra.Command{
		Use:   "map <frontend-token> <namespace>",
		Short: "Make a frontend serve a namespace",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := client(cmd)
			if err != nil {
				return err
			}
			if err := cl.MapNamespace(cmd.Context(), args[0], args[1]); err != nil {
				return fmt.Errorf("mapping namespace: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "frontend %s now serves %s\n", args[0], args[1])
			return nil
		},
	}

	ls := &cobra.Command{Use: "ls", Short: "List frontends or namespaces"}
	ls.AddCommand(&cobra.Command{
		Use:   "frontends",
		Short: "List frontends",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := client(cmd)
			if err != nil {
				return err
			}
			fs, err := cl.Frontends(cmd.Context())
			if err != nil {
				return fmt.Errorf("listing frontends: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOKEN\tREVISION\tNAMESPACES\tURL TEMPLATE\tDESCRIPTION")
			for _, f := range fs {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", f.Token, f.Revision, strings.Join(f.Namespaces, ","), f.URLTemplate, f.Description)
			}
			return tw.Flush()
		},
	}, &cobra.Command{
		Use:   "namespaces",
		Short: "List namespaces",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := client(cmd)
			if err != nil {
				return err
			}
			ns, err := cl.Namespaces(cmd.Context())
			if err != nil {
				return fmt.Errorf("listing namespaces: %w", err)
			}
			for _, n := range ns {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", n.Name, openness(n.Open))
			}
			return nil
		},
	})
	frontends := &cobra.Command{
		Use:   "frontends",
		Short: "Show each live frontend instance and how far it is behind the store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := client(cmd)
			if err != nil {
				return err
			}
			ins, err := cl.Instances(cmd.Context())
			if err != nil {
				return fmt.Errorf("listing frontend instances: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "FRONTEND\tINSTANCE\tAPPLIED\tREVISION\tLAG\tMAPPINGS\tCONTROLLER\tLAST SEEN\tVERSION")
			for _, in := range ins {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s ago\t%s\n", in.Frontend, in.ID, in.AppliedRevision, in.Revision, in.Lag,
					in.Mappings, in.Controller, time.Since(in.HeartbeatAt).Round(time.Second), in.Version)
			}
			return tw.Flush()
		},
	}
	controllers := &cobra.Command{
		Use:   "controllers",
		Short: "Show the live controllers and which singleton workers each runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := client(cmd)
			if err != nil {
				return err
			}
			cs, err := cl.Controllers(cmd.Context())
			if err != nil {
				return fmt.Errorf("listing controllers: %w", err)
			}
			leases, err := cl.Leases(cmd.Context())
			if err != nil {
				return fmt.Errorf("listing leases: %w", err)
			}
			held := map[string][]string{}
			for _, l := range leases {
				if time.Until(l.ExpiresAt) > 0 {
					held[l.Holder] = append(held[l.Holder], l.Name)
				}
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CONTROLLER\tAPI\tGRPC\tWORKERS\tSTARTED\tVERSION")
			for _, c := range cs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.APIAddress, c.GRPCAddress, strings.Join(held[c.ID], ","),
					c.StartedAt.Local().Format(time.DateTime), c.Version)
			}
			return tw.Flush()
		},
	}
	admin.AddCommand(create, mapCmd, ls, frontends, controllers)
	return admin
}

func openness(open bool) string {
	if open {
		return "open"
	}
	return "closed"
}
