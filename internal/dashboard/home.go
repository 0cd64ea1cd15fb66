package dashboard

import (
	"net/http"
	"slices"
	"time"

	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/freeze"
	"github.com/smp/delivery/internal/gitops/history"
)

// homePage is what / shows.
type homePage struct {
	pageBase
	Envs    []string
	Rows    []homeRow
	Freezes []activeFreeze
	// Unsent are the notifications recorded as not sent, newest first.
	Unsent []history.Notification
	Queue  []queueEntry
	// Broken counts the environment files that are not valid YAML.
	Broken int
	// LiveWhere names the engine the cells' live state comes from (empty:
	// git only); LiveErr is why it could not be read at the last poll.
	LiveWhere, LiveErr string
}

// homeRow is one service's row of the matrix.
type homeRow struct {
	Name         string
	Environments []homeCell
}

// homeCell is a cell of the matrix with the notifications about it that
// could not be sent: an on-call engineer must see that nobody was told.
type homeCell struct {
	history.Cell
	Unsent []history.Notification
	// Queued is the deploy waiting for the running version's soak.
	Queued *queuedDeploy
	// Live is what the engine runs for the cell (Options.Live).
	Live *LiveCell
}

// activeFreeze is a freeze in force now for one environment.
type activeFreeze struct {
	Env    string
	Window freeze.Window
}

// queueEntry is a version that waits at a gate: it runs in From and not in
// To, whose environment needs an approval.
type queueEntry struct {
	Service  string
	From, To string
	Tag      string
	Digest   string
	// Since is when the version reached From.
	Since *time.Time
	Gate  delivery.Approval
	// Approval is the recorded approval of this digest for To, if any: the
	// version then waits for its promotion, not for an approver.
	Approval *history.Approval
	// ExpiresAt, where To has approvalMaxAge, is when Approval stops
	// counting; Expired says it has at the dashboard's clock, so the
	// version waits for an approver again.
	ExpiresAt *time.Time
	Expired   bool
	// MayApprove are who delivery.yaml lets approve for To.
	MayApprove []string
	// Held: To has a hold on the service; the promotion is refused until
	// it is released.
	Held bool
}

func (d *Dashboard) home(w http.ResponseWriter, r *http.Request) {
	v := d.viewFor(r.Context())
	if v.err != nil {
		d.renderError(w, r, v)
		return
	}
	now := d.o.Now()
	p := homePage{pageBase: d.base(v, "", now), Envs: v.status.Environments, Unsent: unsent(v.notifications)}
	if v.live != nil {
		p.LiveWhere, p.LiveErr = d.o.LiveWhere, v.live.err
	}
	byCell := map[history.Key][]history.Notification{}
	for _, n := range p.Unsent {
		k := history.Key{Env: n.Environment, Service: n.Service}
		byCell[k] = append(byCell[k], n)
	}
	for _, row := range v.status.Services {
		hr := homeRow{Name: row.Name}
		for _, c := range row.Environments {
			if c.Error != "" {
				p.Broken++
			}
			hr.Environments = append(hr.Environments, homeCell{Cell: c, Unsent: byCell[history.Key{Env: c.Environment, Service: row.Name}],
				Queued: queuedFor(v.status, c), Live: v.live.cell(c.Environment, row.Name)})
		}
		p.Rows = append(p.Rows, hr)
	}
	cfg := v.status.Config
	for _, env := range cfg.EnvNames() {
		// A freeze delivery.yaml cannot evaluate is refused by deploy with
		// its error; the banner shows the ones in force.
		if win, on, err := freeze.Active(cfg, env, now); err == nil && on {
			p.Freezes = append(p.Freezes, activeFreeze{Env: env, Window: win})
		}
	}
	p.Queue = queue(v.status, v.approvals, v.ages, now)
	d.render(w, r, homeTmpl, &p)
}

// queue lists, for every environment behind an approval gate, the services
// whose previous environment runs another image: what waits for whom.
//
// An approval in an environment with approvalMaxAge carries when it
// expires (ages): an expired one lets nothing through (the deploy and
// promote refuse it), so the entry says the version waits for an approver.
func queue(st *history.Status, approvals map[string][]history.Approval, ages []history.ApprovalAge, now time.Time) []queueEntry {
	cfg := st.Config
	var out []queueEntry
	for i, env := range cfg.Environments {
		if i == 0 || env.Approval == "" || env.Approval == delivery.ApprovalNone {
			continue
		}
		from := cfg.Environments[i-1].Name
		may := cfg.ReleaseManagers
		if env.Approval != delivery.ApprovalReleaseManager {
			// Release managers may approve what approvers may.
			may = append(slices.Clone(cfg.Approvers), cfg.ReleaseManagers...)
		}
		for _, row := range st.Services {
			src, _ := st.Cell(row.Name, from)
			dst, _ := st.Cell(row.Name, env.Name)
			// A service without a file in the gated environment is not
			// deployed there: nothing to promote it into.
			if !src.Present || !dst.Present || src.Error != "" || (src.Digest == "" && src.Tag == "") || same(src, dst) {
				continue
			}
			e := queueEntry{Service: row.Name, From: from, To: env.Name, Tag: src.Tag, Digest: src.Digest,
				Since: src.DeployedAt, Gate: env.Approval, MayApprove: may, Held: dst.Held}
			for _, a := range approvals[env.Name] {
				// Approvals are per digest: the release tag (3.3.0) of the
				// rc running in staging (3.3.0-rc.1) is the same image.
				if a.Service == row.Name && a.Error == "" && a.Digest != "" && a.Digest == src.Digest {
					e.Approval = &a
				}
			}
			if e.Approval != nil {
				for _, a := range ages {
					if a.Environment == env.Name && a.Service == row.Name && a.Version == e.Approval.Version && a.Digest == e.Approval.Digest {
						exp := a.ExpiresAt
						e.ExpiresAt, e.Expired = &exp, !now.Before(exp)
					}
				}
			}
			out = append(out, e)
		}
	}
	return out
}

// same reports whether b runs a's image: the digests, or the tags where
// either side has no digest.
func same(a, b history.Cell) bool {
	if a.Digest != "" && b.Digest != "" {
		return a.Digest == b.Digest
	}
	return a.Tag == b.Tag
}

// unsent keeps the notifications not delivered yet.
func unsent(all []history.Notification) []history.Notification {
	var out []history.Notification
	for _, n := range all {
		if n.Pending() {
			out = append(out, n)
		}
	}
	return out
}
