package daemon

import (
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/smp/delivery/internal/local/cluster"
)

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func rev(v *cluster.RevisionStatus) string {
	if v == nil {
		return "-"
	}
	s := fmt.Sprintf("%s (%d/%d)", v.Tag, v.Ready, v.Replicas)
	if v.Phase == cluster.PhaseCrashLoopBackOff {
		s += " CrashLoopBackOff"
	}
	return s
}

// WriteText writes the report as a table for people.
func (r StatusReport) WriteText(w io.Writer) error {
	st := r.State
	fmt.Fprintf(w, "local environment in %s (pid %d, up since %s)\n", st.Dir, st.PID, st.Started.Format("15:04:05"))
	fmt.Fprintf(w, "  registry    %s\n  gitops      %s (head %s)\n  prometheus  %s\n  smoke token %s\n\n",
		st.Registry, st.GitOps, short(r.Runtime.Head, 12), st.Prometheus, filepath.Join(st.Dir, "smoke.jwt"))
	if r.Runtime.Error != "" {
		fmt.Fprintf(w, "git: %s\n\n", r.Runtime.Error)
	}
	return writeEnvs(w, r.Runtime.Envs)
}

func writeEnvs(w io.Writer, envs []cluster.EnvStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tSYNC\tSTATUS\tREVISION\tSERVICE\tHEALTH\tACTIVE\tPREVIEW\tURL\tPREVIEW URL")
	var notes []string
	for _, e := range envs {
		if len(e.Services) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t-\t-\t-\t-\t-\n", e.Name, e.Sync, e.SyncStatus, short(e.SyncedRevision, 12))
		}
		for _, s := range e.Services {
			pv := s.PreviewURL
			if pv == "" {
				pv = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Sync, e.SyncStatus, short(e.SyncedRevision, 12),
				s.Name, s.Health, rev(s.Active), rev(s.Preview), s.URL, pv)
			if s.Message != "" {
				notes = append(notes, fmt.Sprintf("%s/%s: %s", e.Name, s.Name, s.Message))
			}
			if s.Previous != nil && s.Previous.ScaleDownAt != nil {
				notes = append(notes, fmt.Sprintf("%s/%s: previous %s stays up until %s (a rollback commit switches back to it at once)", e.Name, s.Name, s.Previous.Tag, s.Previous.ScaleDownAt.Format("15:04:05")))
			}
		}
		if e.SyncError != "" {
			notes = append(notes, fmt.Sprintf("%s: last sync failed: %s", e.Name, e.SyncError))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		if _, err := fmt.Fprintln(w, "  "+n); err != nil {
			return err
		}
	}
	return nil
}

// WriteEnvText writes environments' status as a table.
func WriteEnvText(w io.Writer, envs ...cluster.EnvStatus) error {
	return writeEnvs(w, envs)
}
