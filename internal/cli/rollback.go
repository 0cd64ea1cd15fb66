package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/write"
)

func init() { register(newRollbackCmd) }

func newRollbackCmd(a *App) *cobra.Command {
	var (
		o                             writeOptions
		env, svc, to, why, migrations string
		migrateDown, sync             bool
		e                             engineFlags
		syncTimeout                   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "rollback --gitops URL|PATH --env ENV --service SVC [--to TAG|DIGEST|REVISION]",
		Short: "Write the previous (or a given) image back and hold the service",
		Long: `rollback finds, in the git history of environments/ENV/SVC.yaml, the image
before the current one (or the one named by --to: a tag, a sha256 digest, or
a revision of the GitOps repository), writes it back with its chart version,
commits "rollback(ENV): SVC → TAG", and places a hold in the same commit:
automated deploys of SVC to ENV then exit 1 until
"smpctl hold release --env ENV --service SVC". Freezes do not block a
rollback. Where ENV has signedApprovals (delivery.yaml), the rollback must be
signed (--signing-key) by a key delivery.yaml's signers lists for --by, or it
is refused (exit 1) before anything is written.

The rollback first reads the schema version both images record (smpctl
build's vn.smp.delivery.schema-version annotation, from the registry by
digest) and refuses (exit 1) to cross a migration that contracts the schema
(a drop, a rename, a NOT NULL...), naming it and the ways out; expand-only
migrations (docs/migrations.md) are crossed. By default (--migrations
image) the running image's migrations are the ones smpctl build recorded on
it, classified (vn.smp.delivery.migrations): no checkout needed. An image
that records none is rolled back with "schema: not checked". A registry
that does not answer refuses the rollback, nothing written. --migrations
DIR reads them from the running version's migrations directory instead;
--migrations none checks nothing. With the environment's database in
SMP_DATABASE_DSN, the applied schema version is read from its
schema_migrations table (a dirty one refuses the rollback); without it, the
running image's recorded version stands for it. --migrate-down runs the down
migrations on that database first, then rolls back: from DIR, or with
--migrations image the running image's own binary, pulled by digest
("server migrate down N" with MYSQL_DSN).

--sync then applies the rollback where the service runs, the local runtime
(--dir) or a cluster (--kubeconfig/--context: Argo CD syncs the service's
Application), and waits until the restored version is active. Within
blue/green's scaleDownDelaySeconds the previous version still runs and
active switches back at once; after it, the version starts again as a
preview, and where prod waits for a person to promote (autoPromotionEnabled
false), --sync promotes it once its pods are ready: it ran in ENV before,
so approval and soak do not apply (the commit's Fast-Lane trailer). It prints
which of the two happened ("rollback: ... active in ENV", on standard error
with -o json). After --sync-timeout it exits 1
with what is left to do; the commit stands either way.`,
		Example: `  smpctl rollback --gitops ../smp-gitops --env prod --service order-svc --by oncall --reason "5xx spike"
  smpctl rollback --gitops ../smp-gitops --env prod --service order-svc --by oncall --sync --context prod-cluster
  smpctl rollback --gitops ../smp-gitops --env prod --service order-svc --to 3.2.0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !sync {
				for _, n := range []string{"dir", "engine", "kubeconfig", "context", "sync-timeout"} {
					if cmd.Flags().Changed(n) {
						return fault.Invalidf("--%s says where --sync applies the rollback: add --sync, or drop --%s", n, n)
					}
				}
			}
			req := write.RollbackRequest{Common: o.common(a), Env: env, Service: svc, To: to, Reason: why}
			switch {
			case migrations == MigrationsNone && migrateDown:
				return fault.Invalidf("--migrate-down needs --migrations DIR or image: the down migrations to run")
			case migrations == MigrationsNone:
				fmt.Fprintln(a.Stderr, notCheckedNone)
			default:
				check, err := a.schemaCheck(migrations, migrateDown, e.localMirror(sync), nil)
				if err != nil {
					return err
				}
				req.Check = check
			}
			repo, err := o.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			req.Proven = o.proven // known once open has asked for the token
			// Connect before writing: a wrong --kubeconfig is found
			// with nothing written.
			var view rolloutView
			if sync {
				if view, err = a.rolloutOn(cmd.Context(), &e, env, svc, o.by); err != nil {
					return err
				}
			}
			out, err := write.Rollback(cmd.Context(), repo, req)
			if err != nil {
				return err
			}
			if err := a.finishWrite(cmd.Context(), repo, &o, out, why); err != nil || !sync {
				return err
			}
			how, err := a.applyRollback(cmd.Context(), repo, view, out, syncTimeout)
			if err != nil {
				return err
			}
			// Standard output keeps one JSON document with -o json.
			w := a.Stdout
			if a.JSON() {
				w = a.Stderr
			}
			fmt.Fprintf(w, "rollback: %s\n", how)
			return nil
		},
	}
	e.add(cmd)
	addWriteFlags(cmd, &o, "who rolls back (Deployed-By and the hold's by)")
	f := cmd.Flags()
	f.StringVar(&env, "env", "", "environment")
	f.StringVar(&svc, "service", "", "service")
	f.StringVar(&to, "to", "", "tag, sha256 digest or GitOps revision to restore (default: the previous image)")
	f.StringVar(&why, "reason", "", "why, recorded in the hold")
	f.StringVar(&migrations, "migrations", MigrationsFromImage, "refuse a rollback across a migration that contracts the schema, as the running image's migrations say: \"image\", what smpctl build recorded on it; a directory, the running version's migrations; \"none\", no check")
	f.BoolVar(&migrateDown, "migrate-down", false, "run the down migrations (--migrations) on the database in SMP_DATABASE_DSN first (never read from SMP_MIGRATE_DOWN)")
	f.BoolVar(&sync, "sync", false, "then apply it on the local runtime (--dir) or a cluster (--kubeconfig/--context) and wait until the restored version is active, promoting it if it waits on the preview")
	f.DurationVar(&syncTimeout, "sync-timeout", 10*time.Minute, "with --sync: how long to wait before exit 1 with what is left to do")
	for _, n := range []string{"env", "service"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}
