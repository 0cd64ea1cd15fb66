package write

import (
	"context"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/envfile"
)

// Running reads environments/<env>/<svc>.yaml at the branch's head: the
// image and chart the environment runs, and how it rolls out (strategy,
// blueGreen). `smpctl verify --for` judges that version, and knows from the
// strategy whether a failed gate has a Rollout to abort. A missing file is
// a zero File.
func Running(ctx context.Context, repo *gitops.Repo, env, svc string) (envfile.File, error) {
	if err := checkNames(env, svc); err != nil {
		return envfile.File{}, err
	}
	var f envfile.File
	err := repo.Read(ctx, func(_ context.Context, t *gitops.Tree) error {
		b, _, err := readEnvFile(t, env, svc)
		if err != nil || b == nil {
			return err
		}
		f, err = envfile.Decode(b)
		if err != nil {
			return fault.Invalidf("%s in the GitOps repository: %w; fix the file there", envPath(env, svc), err)
		}
		return nil
	})
	return f, err
}
