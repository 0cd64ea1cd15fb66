package migration_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/migration"
)

func orderSvc(t *testing.T) []migration.Migration {
	t.Helper()
	migs, err := migration.Classify(os.DirFS(orderSvcMigrations))
	if err != nil {
		t.Fatal(err)
	}
	return migs
}

func TestARollbackAcrossAContractMigrationIsRefusedWithBothWaysOut(t *testing.T) {
	v, err := migration.Between(orderSvc(t), 6, 3)
	if err != nil {
		t.Fatal(err)
	}
	if v.Allowed() {
		t.Fatal("rollback from 6 to 3 allowed across 0006, which drops a column")
	}
	if got := versionsOf(v.Crossed); got != "4 5 6" {
		t.Errorf("crossed %s, want 4 5 6", got)
	}
	if got := versionsOf(v.Blocking); got != "6" {
		t.Errorf("blocking %s, want 6", got)
	}
	want := `schema: the environment is at version 6 and the image expects 3; migration 0006 contracts the schema, so the older image may fail on it:
  0006_services_drop_price.up.sql: ALTER TABLE services MODIFY COLUMN base_price_vnd BIGINT NOT NULL: makes the column NOT NULL: older code may write NULL to it
  0006_services_drop_price.up.sql: ALTER TABLE services DROP COLUMN price: drops a column
  0006_services_drop_price.up.sql: ALTER TABLE services ADD CONSTRAINT chk_services_base_price_vnd CHECK (base_price_vnd >= 0): adds a CHECK constraint: older code may write rows it refuses
Two ways out:
  - roll forward: fix the release and deploy a newer version instead of rolling back;
  - migrate down, then roll back: smpctl rollback --migrations DIR --migrate-down (database in SMP_DATABASE_DSN) runs the newer image's down migrations 6 → 3 first (data written only to what they remove is lost)`
	if got := v.Message(); got != want {
		t.Errorf("message:\n%s\nwant:\n%s", got, want)
	}
}

func TestARollbackAcrossExpandOnlyMigrationsIsAllowed(t *testing.T) {
	v, err := migration.Between(orderSvc(t), 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Allowed() || versionsOf(v.Crossed) != "4 5" || len(v.Blocking) != 0 {
		t.Fatalf("verdict %+v, want allowed, crossing 4 and 5", v)
	}
	want := "schema: migrations 0004, 0005 stay applied (version 5) and only expand the schema, so the image built for version 3 runs on it unchanged"
	if got := v.Message(); got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func TestARollbackToTheSameOrANewerSchemaCrossesNothing(t *testing.T) {
	for _, to := range []uint{6, 7} {
		v, err := migration.Between(orderSvc(t), 6, to)
		if err != nil || !v.Allowed() || len(v.Crossed) != 0 {
			t.Errorf("Between(6, %d) = %+v, %v; want allowed, nothing crossed", to, v, err)
		}
		if !strings.Contains(v.Message(), "no migration stays applied") {
			t.Errorf("Between(6, %d) message %q", to, v.Message())
		}
	}
}

func TestARollbackToBeforeEveryMigrationCrossesThemAll(t *testing.T) {
	v, err := migration.Between(orderSvc(t), 6, 0)
	if err != nil || v.Allowed() || versionsOf(v.Crossed) != "1 2 3 4 5 6" {
		t.Errorf("Between(6, 0) = %+v, %v; want all six crossed and refused", v, err)
	}
}

func TestAnAppliedVersionTheMigrationsDoNotKnowIsAnError(t *testing.T) {
	_, err := migration.Between(orderSvc(t), 9, 3)
	if !errors.Is(err, migration.ErrUnknownVersion) || !strings.Contains(err.Error(), "schema is at version 9, but the migrations read end at 6") {
		t.Errorf("err = %v, want ErrUnknownVersion saying 9 is beyond 6", err)
	}
}

func versionsOf(migs []migration.Migration) string {
	var s []string
	for _, m := range migs {
		s = append(s, strings.TrimLeft(m.File[:4], "0"))
	}
	return strings.Join(s, " ")
}
