package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/untrusted"
)

func init() { register(newFreezeCmd) }

// newFreezeCmd is `freeze list|add|remove`: delivery.yaml's freeze windows.
func newFreezeCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "freeze",
		Short: "List, add or remove freeze windows in delivery.yaml",
		Long: `A freeze refuses deploy and promote to its environments (exit 1, naming the
window and when it ends in its time zone) unless --override-freeze --reason.
Weekly windows ("Fri 17:00" to "Mon 08:00") follow the wall clock of an IANA
zone and may wrap over the week end; one-off windows run from --from to
--until. add and remove commit "freeze: add NAME" / "freeze: remove NAME".`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newFreezeListCmd(a), newFreezeAddCmd(a), newFreezeRemoveCmd(a))
	return cmd
}

func newFreezeListCmd(a *App) *cobra.Command {
	var o writeOptions
	cmd := &cobra.Command{
		Use:   "list --gitops URL|PATH",
		Short: "List the freeze windows and whether each is active now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repo, err := o.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			list, err := write.ListFreezes(cmd.Context(), repo, a.Now())
			if err != nil {
				return err
			}
			if list == nil {
				list = []write.FreezeStatus{}
			}
			return a.Render(list, func(w io.Writer) error { return writeFreezes(w, list) })
		},
	}
	addWriteFlags(cmd, &o, "")
	return cmd
}

func writeFreezes(w io.Writer, list []write.FreezeStatus) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no freezes")
		return err
	}
	for _, f := range list {
		when := ""
		if f.Weekly != nil {
			when = fmt.Sprintf("weekly %s → %s", f.Weekly.Start, f.Weekly.End)
		} else if f.From != nil && f.Until != nil {
			when = fmt.Sprintf("%s → %s", f.From.Format(time.RFC3339), f.Until.Format(time.RFC3339))
		}
		zone := f.TimeZone
		if zone == "" {
			zone = "UTC"
		}
		envs := strings.Join(f.Environments, ",")
		if envs == "" {
			envs = "all"
		}
		state := "inactive"
		if f.Active {
			state = "ACTIVE until " + f.Ends.Format("Mon 2006-01-02 15:04 MST")
		}
		fmt.Fprintf(w, "%-16s %-10s %s (%s) %s", f.Name, envs, when, zone, state)
		if f.Reason != "" {
			fmt.Fprintf(w, ": %s", untrusted.Text(f.Reason))
		}
		fmt.Fprintln(w)
	}
	return nil
}

func newFreezeAddCmd(a *App) *cobra.Command {
	var (
		o                                    writeOptions
		name, why, tz, start, end, from, til string
		envs                                 []string
	)
	cmd := &cobra.Command{
		Use:   "add --gitops URL|PATH --name NAME --env ENV[,ENV] (--weekly-start 'Fri 17:00' --weekly-end 'Mon 08:00' | --from T --until T)",
		Short: "Add a freeze window to delivery.yaml",
		Example: `  smpctl freeze add --gitops ../smp-gitops --name weekend --env prod --time-zone Asia/Ho_Chi_Minh \
    --weekly-start "Fri 17:00" --weekly-end "Mon 08:00" --reason "no prod changes over the weekend"
  smpctl freeze add --gitops ../smp-gitops --name tet --env staging,prod \
    --from 2027-02-05T00:00:00+07:00 --until 2027-02-12T00:00:00+07:00`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := delivery.Freeze{Name: name, Reason: why, Environments: envs, TimeZone: tz}
			if start != "" || end != "" {
				f.Weekly = &delivery.WeeklyWindow{Start: start, End: end}
			}
			for _, p := range []struct {
				flag, v string
				dst     **time.Time
			}{{"--from", from, &f.From}, {"--until", til, &f.Until}} {
				if p.v == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, p.v)
				if err != nil {
					return fault.Invalidf("%s %q: give an RFC 3339 time such as 2027-02-05T00:00:00+07:00", p.flag, p.v)
				}
				*p.dst = &t
			}
			repo, err := o.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			out, err := write.AddFreeze(cmd.Context(), repo, write.FreezeRequest{Common: o.common(a), Freeze: f})
			if err != nil {
				return err
			}
			return renderOutcome(a, out)
		},
	}
	addWriteFlags(cmd, &o, "who adds the freeze")
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "name of the freeze (a DNS label)")
	fl.StringSliceVar(&envs, "env", nil, "environments frozen (repeat or comma-separate; default all)")
	fl.StringVar(&why, "reason", "", "why, shown when a deploy is refused")
	fl.StringVar(&tz, "time-zone", "", "IANA time zone of the window, e.g. Asia/Ho_Chi_Minh (default UTC)")
	fl.StringVar(&start, "weekly-start", "", `weekly start, e.g. "Fri 17:00"`)
	fl.StringVar(&end, "weekly-end", "", `weekly end, e.g. "Mon 08:00"`)
	fl.StringVar(&from, "from", "", "one-off start, RFC 3339")
	fl.StringVar(&til, "until", "", "one-off end, RFC 3339")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newFreezeRemoveCmd(a *App) *cobra.Command {
	var (
		o    writeOptions
		name string
	)
	cmd := &cobra.Command{
		Use:   "remove --gitops URL|PATH --name NAME",
		Short: "Remove a freeze window from delivery.yaml",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repo, err := o.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			out, err := write.RemoveFreeze(cmd.Context(), repo, write.FreezeRequest{Common: o.common(a), Freeze: delivery.Freeze{Name: name}})
			if err != nil {
				return err
			}
			return renderOutcome(a, out)
		},
	}
	addWriteFlags(cmd, &o, "who removes the freeze")
	cmd.Flags().StringVar(&name, "name", "", "name of the freeze")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}
