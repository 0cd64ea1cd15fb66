package cli

import (
	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/local/daemon"
)

// engineFlags choose where sync and rollout act: the local runtime (smpctl local up, the
// default) or a Kubernetes cluster running Argo CD and Argo Rollouts.
type engineFlags struct {
	dir, engine, kubeconfig, context string
}

func (e *engineFlags) add(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&e.dir, "dir", ".smp", "folder of the local environment (smpctl local up)")
	f.StringVar(&e.engine, "engine", "", "local (the local runtime, default) or kubernetes (Argo CD and Argo Rollouts; implied by --kubeconfig or --context)")
	f.StringVar(&e.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: KUBECONFIG, then ~/.kube/config); selects --engine kubernetes")
	f.StringVar(&e.context, "context", "", "kubeconfig context (default: its current context); selects --engine kubernetes")
}

// kubernetes reports whether the command acts on a cluster.
func (e *engineFlags) kubernetes() (bool, error) {
	switch e.engine {
	case "", "local":
		if e.engine == "local" && (e.kubeconfig != "" || e.context != "") {
			return false, fault.Invalidf("--engine local with --kubeconfig/--context: drop one")
		}
		return e.engine == "" && (e.kubeconfig != "" || e.context != ""), nil
	case "kubernetes":
		return true, nil
	}
	return false, fault.Invalidf("--engine %q: use local or kubernetes", e.engine)
}

// cluster connects to the cluster the flags name, or returns nil when the
// command acts on the local runtime.
func (e *engineFlags) cluster(a *App) (*kube.Client, error) {
	onKube, err := e.kubernetes()
	if err != nil || !onKube {
		return nil, err
	}
	return e.kube(a)
}

// kube connects to the cluster the flags name.
func (e *engineFlags) kube(a *App) (*kube.Client, error) {
	cfg, where, err := kube.Config(e.kubeconfig, a.Getenv("KUBECONFIG"), a.Getenv("HOME"), e.context)
	if err != nil {
		return nil, err
	}
	return kube.New(cfg, "context "+where)
}

// localMirror is the local runtime's registry (host:port) when the command
// applies its writes there (--sync on the local engine): the runtime runs
// images from that registry under the names smp-gitops gives them, so that
// is where an image is read (the schema check). "" otherwise, or when no
// local runtime runs in --dir.
func (e *engineFlags) localMirror(syncs bool) string {
	if kube, err := e.kubernetes(); !syncs || err != nil || kube {
		return ""
	}
	st, err := daemon.ReadState(e.dir)
	if err != nil {
		return ""
	}
	return st.Registry
}
