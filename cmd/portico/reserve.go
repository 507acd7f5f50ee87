package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/porticoproxy/portico/internal/apiclient"
	"github.com/porticoproxy/portico/internal/apitypes"
)

func newReserve(g *globals) *cobra.Command {
	var namespace string
	var pf policyFlags
	cmd := &cobra.Command{
		Use:   "reserve <name>",
		Short: "Reserve a name whose URL stays the same until you release it",
		Long: `Reserve a name in a namespace, such as myapp in share.example.com for
https://myapp.share.example.com. The name outlives any agent: serve it with
"portico share reserved <name> <target>" as often as you like, and free it with
"portico release <name>". A name is a DNS label: 1-63 of a-z, 0-9 and '-'.`,
		Example: "  portico reserve myapp\n  portico reserve myapp --namespace team.example.com --basic-auth-file users.txt",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pol, err := pf.build(cmd)
			if err != nil {
				return err
			}
			env, cl, err := g.client()
			if err != nil {
				return err
			}
			sh, err := cl.CreateShare(cmd.Context(), apitypes.ShareRequest{
				EnvironmentID: env.EnvironmentID, Namespace: namespace, Reserved: true, Name: args[0], Policy: pol,
			})
			if err != nil {
				return fmt.Errorf("reserving %s: %w", args[0], err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Reserved %s\n", sh.Host)
			for _, u := range sh.FrontendEndpoints {
				fmt.Fprintf(out, "Public URL: %s\n", u)
			}
			fmt.Fprintf(out, "Serve it with: portico share reserved %s <target>\n", sh.Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace to reserve the name in (default: the only one)")
	pf.register(cmd)
	return cmd
}

func newRelease(g *globals) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:     "release <name>",
		Short:   "Release a reserved name; its URL stops working",
		Example: "  portico release myapp",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, sh, err := reservedShare(cmd, g, args[0], namespace)
			if err != nil {
				return err
			}
			if err := cl.DeleteShare(cmd.Context(), sh.Token); err != nil {
				return fmt.Errorf("releasing %s: %w", sh.Name, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Released %s\n", sh.Host)
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "the namespace of the name")
	return cmd
}

// reservedShare finds one of the account's reserved names.
func reservedShare(cmd *cobra.Command, g *globals, name, namespace string) (*apiclient.Client, apitypes.Share, error) {
	_, cl, err := g.client()
	if err != nil {
		return nil, apitypes.Share{}, err
	}
	sh, err := cl.ShareByName(cmd.Context(), name, namespace)
	if err != nil {
		return nil, sh, err
	}
	if !sh.Reserved {
		return nil, sh, fmt.Errorf("share %s is not a reserved name", name)
	}
	return cl, sh, nil
}

func newDomain(g *globals) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "domain",
		Short: "Serve a reserved name at your own domain too",
		Long: `Attach a domain you control, such as app.example.org, to a reserved name. Prove
control by publishing the TXT record "domain add" prints, then run "domain verify";
from then on the frontends serve the domain (point it at them with a CNAME or an
A record) and obtain its certificate on the first visit.`,
		Example: `  portico domain add myapp app.example.org
  portico domain verify myapp app.example.org`,
	}
	cmd.PersistentFlags().StringVarP(&namespace, "namespace", "n", "", "the namespace of the reserved name")
	cmd.AddCommand(&cobra.Command{
		Use:   "add <name> <domain>",
		Short: "Attach a domain to a reserved name and print the TXT record that verifies it",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, sh, err := reservedShare(cmd, g, args[0], namespace)
			if err != nil {
				return err
			}
			d, err := cl.AddDomain(cmd.Context(), sh.Token, args[1])
			if err != nil {
				return fmt.Errorf("adding domain %s: %w", args[1], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "To prove you control %s, publish this DNS record:\n\n  %s. TXT %q\n\nthen run: portico domain verify %s %s\n", d.Name, d.TXTName, d.TXTValue, sh.Name, d.Name)
			return nil
		},
	}, &cobra.Command{
		Use:   "verify <name> <domain>",
		Short: "Check the domain's TXT record and, if it is right, serve the domain",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, sh, err := reservedShare(cmd, g, args[0], namespace)
			if err != nil {
				return err
			}
			d, err := cl.VerifyDomain(cmd.Context(), sh.Token, args[1])
			if err != nil {
				return fmt.Errorf("verifying %s: %w", args[1], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Verified %s: the frontends now serve it for %s\n", d.Name, sh.Host)
			return nil
		},
	}, &cobra.Command{
		Use:   "ls <name>",
		Short: "List a reserved name's domains",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, sh, err := reservedShare(cmd, g, args[0], namespace)
			if err != nil {
				return err
			}
			ds, err := cl.Domains(cmd.Context(), sh.Token)
			if err != nil {
				return fmt.Errorf("listing domains: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DOMAIN\tVERIFIED\tTXT RECORD")
			for _, d := range ds {
				fmt.Fprintf(tw, "%s\t%t\t%s TXT %q\n", d.Name, d.Verified, d.TXTName, d.TXTValue)
			}
			return tw.Flush()
		},
	}, &cobra.Command{
		Use:   "rm <name> <domain>",
		Short: "Detach a domain from a reserved name",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, sh, err := reservedShare(cmd, g, args[0], namespace)
			if err != nil {
				return err
			}
			if err := cl.DeleteDomain(cmd.Context(), sh.Token, args[1]); err != nil {
				return fmt.Errorf("removing domain %s: %w", args[1], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed %s\n", args[1])
			return nil
		},
	})
	return cmd
}
