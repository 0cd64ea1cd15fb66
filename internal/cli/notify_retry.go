package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/statefile"
	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/notify"
	"github.com/smp/delivery/internal/notify/outbox"
)

func init() { register(newNotifyCmd) }

// recordTimeout bounds recording what could not be sent: it runs after the
// notifications' own time limit, so it gets its own.
const recordTimeout = 30 * time.Second

// recordUndelivered writes the notifications of rep that failed to the
// GitOps repository, where the dashboard shows them and `smpctl notify
// retry` resends them. Like sending, it never fails the command: the change
// is in git; it says on standard error what to do if it cannot record.
func (a *App) recordUndelivered(ctx context.Context, repo *gitops.Repo, commit string, ev notify.Event, rep notify.Report) {
	if len(rep.Failed()) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	res, err := outbox.Record(ctx, repo, commit, ev, rep)
	switch {
	case errors.Is(err, gitops.ErrNoChange):
		// Already recorded (the command was run again).
	case err != nil:
		fmt.Fprintf(a.Stderr, "notify: the failed notification(s) could not be recorded in %s for the dashboard and smpctl notify retry: %v; send them by hand\n", repo, err)
	default:
		fmt.Fprintf(a.Stderr, "notify: recorded in %s (%.12s) for the dashboard; resend with: smpctl notify retry --gitops %s --env %s --service %s --by NAME\n",
			statefile.NotificationsPath(ev.Env, ev.Service), res.Commit, repo, ev.Env, ev.Service)
	}
}

// newNotifyCmd is `notify`, whose subcommand `retry` resends what failed.
func newNotifyCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Resend the notifications that could not be sent",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newNotifyRetryCmd(a))
	return cmd
}

func newNotifyRetryCmd(a *App) *cobra.Command {
	var (
		o        writeOptions
		env, svc string
	)
	cmd := &cobra.Command{
		Use:   "retry --gitops URL|PATH --by NAME [--env ENV] [--service SVC]",
		Short: "Resend the notifications recorded as not sent, each at most once",
		Long: `retry resends the Slack messages, PagerDuty pages, Grafana annotations and
incident issues that deploy, promote, rollback or hold could not send: those
in state/notifications/ENV/SVC.yaml (the dashboard shows them). Each goes
only to the target that failed, with the secrets of this job's environment,
and is recorded as delivered, so a second retry, or one running at the same
time, does not send it again. Exit 1 if any is still not sent.`,
		Example: `  smpctl notify retry --gitops ../smp-gitops --by oncall
  smpctl notify retry --gitops ../smp-gitops --env prod --service order-svc --by oncall`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repo, err := o.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			return retryNotifications(cmd.Context(), a, repo, outbox.RetryOptions{Env: env, Service: svc, By: o.by, Now: a.Now})
		},
	}
	addWriteFlags(cmd, &o, "who resends (recorded with each resend)")
	cmd.Flags().StringVar(&env, "env", "", "resend only this environment's")
	cmd.Flags().StringVar(&svc, "service", "", "resend only this service's")
	_ = cmd.MarkFlagRequired("by")
	return cmd
}

// retryNotifications resends through the notifications delivery.yaml
// configures now, and prints one line per resend.
func retryNotifications(ctx context.Context, a *App, repo *gitops.Repo, o outbox.RetryOptions) error {
	for flag, v := range map[string]string{"--env": o.Env, "--service": o.Service} {
		if v != "" && !delivery.ValidName(v) {
			return fault.Invalidf("%s %q: give a name as delivery.yaml has it (lower case letters, digits and '-')", flag, v)
		}
	}
	cfg, err := write.ReadConfig(ctx, repo)
	if err != nil {
		return fmt.Errorf("read delivery.yaml's notifications in %s: %w", repo, err)
	}
	lookup := func(name string) (string, bool) {
		v := a.Getenv(name)
		return v, v != ""
	}
	got, err := outbox.Retry(ctx, repo, notify.New(cfg.Notifications, lookup, notify.WithLogger(a.Log)), o)
	failed := 0
	for _, r := range got {
		if !r.Result.OK {
			failed++
		}
	}
	if rerr := a.Render(got, func(w io.Writer) error {
		if len(got) == 0 && err == nil {
			_, werr := fmt.Fprintln(w, "notify: nothing to resend")
			return werr
		}
		for _, r := range got {
			what := fmt.Sprintf("notify: %s in %s, %s of %.12s: %s:", r.Service, r.Env, r.Kind, r.Commit, r.Result.Sender)
			switch {
			case r.Result.OK && r.Result.Link != "":
				fmt.Fprintf(w, "%s resent (%s)\n", what, r.Result.Link)
			case r.Result.OK:
				fmt.Fprintf(w, "%s resent\n", what)
			default:
				fmt.Fprintf(w, "%s still not sent after %d attempt(s): %s\n", what, r.Result.Attempts, r.Result.Error)
			}
		}
		return nil
	}); rerr != nil {
		return rerr
	}
	if err != nil {
		return err
	}
	if failed > 0 {
		return fault.Refusedf("%d notification(s) still not sent (above, with what to do); they stay recorded: run smpctl notify retry again once fixed", failed)
	}
	return nil
}
