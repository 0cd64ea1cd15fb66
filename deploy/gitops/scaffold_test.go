package scaffold

import (
	"io/fs"
	"strings"
	"testing"
)

func TestFSHoldsTheWholeLayout(t *testing.T) {
	t.Parallel()
	var files []string
	err := fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := ".github/CODEOWNERS,.github/settings.yml,README.md,apps/dev-apps.yaml,apps/prod-apps.yaml,apps/staging-apps.yaml,delivery.yaml," +
		"environments/dev/.gitkeep,environments/prod/.gitkeep,environments/staging/.gitkeep," +
		"state/approvals/.gitkeep,state/holds/.gitkeep"
	if got := strings.Join(files, ","); got != want {
		t.Errorf("scaffold files:\n got %s\nwant %s", got, want)
	}
	for _, p := range []string{"apps/dev-apps.yaml", "apps/staging-apps.yaml", "apps/prod-apps.yaml"} {
		b, _ := fs.ReadFile(FS(), p)
		if !strings.Contains(string(b), DefaultRepoURL) || !strings.Contains(string(b), DefaultChartRepo) {
			t.Errorf("%s does not use the default URLs init replaces", p)
		}
	}
}
