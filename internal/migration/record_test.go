package migration

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestRecordsCarryTheVerdictOfOrderSvcsMigrations: order-svc's six
// migrations, recorded as an image annotation and read back, give a rollback
// the same verdicts as the SQL itself.
func TestRecordsCarryTheVerdictOfOrderSvcsMigrations(t *testing.T) {
	t.Parallel()
	migs, err := Classify(os.DirFS("../../examples/order-svc/migrations"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := EncodeRecords(migs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeRecords(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to uint }{{5, 3}, {6, 3}, {6, 5}, {6, 0}} {
		want, err1 := Between(migs, c.from, c.to)
		got, err2 := Between(back, c.from, c.to)
		if err1 != nil || err2 != nil || want.Allowed() != got.Allowed() || !reflect.DeepEqual(blockers(want), blockers(got)) {
			t.Errorf("%d → %d: from the SQL %v %v, from the record %v %v", c.from, c.to, want.Allowed(), blockers(want), got.Allowed(), blockers(got))
		}
	}
	if !strings.Contains(s, `"kind":"contract"`) || !strings.Contains(s, "DROP COLUMN price") {
		t.Errorf("the record does not name 0006's contract changes: %s", s)
	}
}

func blockers(v Verdict) []string {
	var out []string
	for _, m := range v.Blocking {
		out = append(out, m.Blockers()...)
	}
	return out
}

func TestARecordNeverLooksSaferThanItSays(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		`[{"version":2,"file":"0002_x.up.sql","kind":"unknown"}]`,
		`[{"version":2,"file":"0002_x.up.sql","kind":"expand","contract":[{"sql":"DROP TABLE t","reason":"drops a table"}]}]`,
	} {
		migs, err := DecodeRecords(s)
		if err != nil || len(migs) != 1 || migs[0].Kind != Contract || len(migs[0].Blockers()) == 0 {
			t.Errorf("%s: %+v, %v; want one contract migration with a blocker", s, migs, err)
		}
	}
	for _, s := range []string{`{`, `[{"file":"x.up.sql","kind":"expand"}]`, `[{"version":1,"kind":"expand"}]`} {
		if _, err := DecodeRecords(s); err == nil {
			t.Errorf("%s: decoded without an error", s)
		}
	}
}
