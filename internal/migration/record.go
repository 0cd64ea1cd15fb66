package migration

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Record is a classified up migration as smpctl build records it on an
// image (image.AnnotationMigrations): enough for a rollback to decide, from
// the registry alone, whether the migrations it would leave applied only
// expand the schema — no checkout of the service, no SQL.
type Record struct {
	Version uint   `json:"version"`
	File    string `json:"file"`
	Kind    string `json:"kind"`
	// Contract are the contract changes, as a refused rollback names them.
	Contract []RecordedChange `json:"contract,omitempty"`
}

// RecordedChange is one contract change of a Record.
type RecordedChange struct {
	SQL    string `json:"sql"`
	Reason string `json:"reason"`
}

// maxRecordedSQL bounds each recorded statement: an annotation is read with
// every manifest, and a long INSERT says no more in its first 200 bytes.
const maxRecordedSQL = 200

// EncodeRecords is migs as the annotation's JSON.
func EncodeRecords(migs []Migration) (string, error) {
	rs := make([]Record, 0, len(migs))
	for _, m := range migs {
		r := Record{Version: m.Version, File: m.File, Kind: m.Kind.String()}
		for _, c := range m.Changes {
			if c.Kind != Contract {
				continue
			}
			sql := c.SQL
			if len(sql) > maxRecordedSQL {
				sql = sql[:maxRecordedSQL] + "…"
			}
			r.Contract = append(r.Contract, RecordedChange{SQL: sql, Reason: c.Reason})
		}
		rs = append(rs, r)
	}
	b, err := json.Marshal(rs)
	return string(b), err
}

// DecodeRecords reads the annotation back into migrations Between can
// judge. A kind other than "expand" counts as contract: an image never
// makes a rollback look safer than its record says.
func DecodeRecords(s string) ([]Migration, error) {
	var rs []Record
	if err := json.Unmarshal([]byte(s), &rs); err != nil {
		return nil, fmt.Errorf("recorded migrations: %w", err)
	}
	migs := make([]Migration, 0, len(rs))
	for _, r := range rs {
		if r.Version == 0 || strings.TrimSpace(r.File) == "" {
			return nil, fmt.Errorf("recorded migrations: an entry without a version or file: %+v", r)
		}
		m := Migration{Version: r.Version, File: r.File, Kind: Expand}
		if r.Kind != Expand.String() || len(r.Contract) > 0 {
			m.Kind = Contract
		}
		for _, c := range r.Contract {
			m.Changes = append(m.Changes, Change{SQL: c.SQL, Kind: Contract, Reason: c.Reason})
		}
		if m.Kind == Contract && len(m.Changes) == 0 {
			m.Changes = []Change{{SQL: r.File, Kind: Contract, Reason: "recorded as " + r.Kind}}
		}
		migs = append(migs, m)
	}
	return migs, nil
}
