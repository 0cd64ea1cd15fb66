// Package history reads an smp-gitops repository: the state every service
// runs in every environment (status), how two environments differ (diff),
// what happened to one service in one environment (history) and the delivery
// metrics computed from the commits alone (metrics) — docs/design.md §2.5 and the
// commit format of docs/gitops-format.md.
//
// Everything is read from committed history (HEAD of the repository, never
// the working tree), through a handful of git processes: one `git log` pass
// streams every commit's subject and trailers, and `git cat-file --batch`
// reads the environment files of HEAD. That keeps status and metrics fast on
// repositories with hundreds of services and thousands of commits. A reader
// that shows many services at one head (the dashboard) reads every
// service's history with one walk into an Index, and extends it by the new
// commits when the head moves on.
package history

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Action is what a GitOps commit did (the Action trailer).
type Action string

// Actions of docs/gitops-format.md.
const (
	ActionDeploy      Action = "deploy"
	ActionPromote     Action = "promote"
	ActionRollback    Action = "rollback"
	ActionApprove     Action = "approve"
	ActionHold        Action = "hold"
	ActionReleaseHold Action = "release-hold"
	ActionFreeze      Action = "freeze"
	ActionInit        Action = "init"
	ActionAddService  Action = "add-service"
)

// Changes reports whether the action writes an image into an environment
// file (the commits status, diff and metrics attribute a deployment to).
func (a Action) Changes() bool {
	return a == ActionDeploy || a == ActionPromote || a == ActionRollback
}

// Event is one commit of the GitOps repository, decoded from its subject
// and trailers. Fields the commit does not carry are empty.
type Event struct {
	Commit  string    `json:"commit"`
	Time    time.Time `json:"time"` // committer time: when the change landed
	Author  string    `json:"author"`
	Subject string    `json:"subject"`

	Action         Action     `json:"action,omitempty"`
	Environment    string     `json:"environment,omitempty"`
	Service        string     `json:"service,omitempty"`
	Tag            string     `json:"tag,omitempty"`
	Version        string     `json:"version,omitempty"` // approve
	Image          string     `json:"image,omitempty"`
	Digest         string     `json:"digest,omitempty"`
	PreviousDigest string     `json:"previousDigest,omitempty"`
	SourceCommit   string     `json:"sourceCommit,omitempty"`
	SourceTime     *time.Time `json:"sourceTime,omitempty"`
	PromotedFrom   string     `json:"promotedFrom,omitempty"`
	DeployedBy     string     `json:"deployedBy,omitempty"`
	ApprovedBy     string     `json:"approvedBy,omitempty"`
	PipelineRun    string     `json:"pipelineRun,omitempty"`
	OverrideFreeze string     `json:"overrideFreeze,omitempty"`
	// Gate is the metric gate's figures a gate watch (smpctl verify --for)
	// recorded in the Gate-* trailers of the rollback or hold it wrote.
	Gate *GateFigures `json:"gate,omitempty"`
	// OIDC is what the writing CI run's verified OIDC token said (the
	// OIDC-* trailers of smpctl --oidc).
	OIDC *OIDCClaims `json:"oidc,omitempty"`
	// Signature, where delivery.yaml lists signers, says whether the
	// commit is signed by a key listed for the person it names (History).
	Signature *CommitSignature `json:"signature,omitempty"`
}

// OIDCClaims are the OIDC-* trailers, as written.
type OIDCClaims struct {
	Issuer   string `json:"issuer,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Workflow string `json:"workflow,omitempty"`
	Run      string `json:"run,omitempty"`
	Actor    string `json:"actor,omitempty"`
	SHA      string `json:"sha,omitempty"`
}

// oidcField is the field of o a trailer key names, nil for another key.
func oidcField(o *OIDCClaims, key string) *string {
	switch key {
	case "OIDC-Issuer":
		return &o.Issuer
	case "OIDC-Subject":
		return &o.Subject
	case "OIDC-Workflow":
		return &o.Workflow
	case "OIDC-Run":
		return &o.Run
	case "OIDC-Actor":
		return &o.Actor
	case "OIDC-SHA":
		return &o.SHA
	}
	return nil
}

// GateFigures are the Gate-* trailers, as written.
type GateFigures struct {
	Verdict     string `json:"verdict,omitempty"`
	Version     string `json:"version,omitempty"`
	Baseline    string `json:"baseline,omitempty"`
	Window      string `json:"window,omitempty"`
	Requests    string `json:"requests,omitempty"`
	ErrorRate   string `json:"errorRate,omitempty"` // a fraction: 0.4995
	P95         string `json:"p95,omitempty"`
	BaselineP95 string `json:"baselineP95,omitempty"`
	Failed      string `json:"failed,omitempty"`
	Watched     string `json:"watched,omitempty"`
}

// ErrorPercent is ErrorRate as a percentage ("49.95%"), or ErrorRate as
// written when it is not a number.
func (g *GateFigures) ErrorPercent() string {
	f, err := strconv.ParseFloat(g.ErrorRate, 64)
	if err != nil {
		return g.ErrorRate
	}
	return strconv.FormatFloat(100*f, 'f', 2, 64) + "%"
}

// gateField is where each Gate-* trailer goes.
func gateField(g *GateFigures, key string) *string {
	switch key {
	case "Gate-Verdict":
		return &g.Verdict
	case "Gate-Version":
		return &g.Version
	case "Gate-Baseline":
		return &g.Baseline
	case "Gate-Window":
		return &g.Window
	case "Gate-Requests":
		return &g.Requests
	case "Gate-Error-Rate":
		return &g.ErrorRate
	case "Gate-P95":
		return &g.P95
	case "Gate-Baseline-P95":
		return &g.BaselineP95
	case "Gate-Failed":
		return &g.Failed
	case "Gate-Watched":
		return &g.Watched
	}
	return nil
}

// By is who made the change: the approver of an approval, else the
// Deployed-By trailer, else the commit's author.
func (e *Event) By() string {
	if e.Action == ActionApprove && e.ApprovedBy != "" {
		return e.ApprovedBy
	}
	if e.DeployedBy != "" {
		return e.DeployedBy
	}
	return e.Author
}

var (
	changeSubjectRE  = regexp.MustCompile(`^(deploy|promote|rollback)\(([^()\s]+)\): (\S+) → (\S+)$`)
	approveSubjectRE = regexp.MustCompile(`^approve\(([^()\s]+)\): (\S+) (\S+)$`)
	holdSubjectRE    = regexp.MustCompile(`^(hold|release-hold)\(([^()\s]+)\): (\S+)$`)
	gitopsSubjectRE  = regexp.MustCompile(`^gitops: (init|add (\S+))$`)
	freezeSubjectRE  = regexp.MustCompile(`^freeze: (add|remove) \S+`)
)

// ParseSubject fills the action, environment, service and tag a subject of
// docs/gitops-format.md names. It returns false for any other subject (a commit
// made by hand), leaving e as it was.
func ParseSubject(subject string, e *Event) bool {
	// Each subject kind starts with its own word: try only the pattern it can
	// match (a status parses thousands of subjects).
	verb, _, _ := strings.Cut(subject, "(")
	switch {
	case verb == "deploy" || verb == "promote" || verb == "rollback":
	case verb == "approve":
		return parseApprove(subject, e)
	case verb == "hold" || verb == "release-hold":
		return parseHold(subject, e)
	case strings.HasPrefix(subject, "gitops: ") || strings.HasPrefix(subject, "freeze: "):
		return parseOther(subject, e)
	default:
		return false
	}
	if m := changeSubjectRE.FindStringSubmatch(subject); m != nil {
		e.Action, e.Environment, e.Service, e.Tag = Action(m[1]), m[2], m[3], m[4]
		return true
	}
	return false
}

func parseApprove(subject string, e *Event) bool {
	if m := approveSubjectRE.FindStringSubmatch(subject); m != nil {
		e.Action, e.Environment, e.Service, e.Version = ActionApprove, m[1], m[2], m[3]
		return true
	}
	return false
}

func parseHold(subject string, e *Event) bool {
	if m := holdSubjectRE.FindStringSubmatch(subject); m != nil {
		e.Action, e.Environment, e.Service = Action(m[1]), m[2], m[3]
		return true
	}
	return false
}

func parseOther(subject string, e *Event) bool {
	if m := gitopsSubjectRE.FindStringSubmatch(subject); m != nil {
		if m[2] != "" {
			e.Action, e.Service = ActionAddService, m[2]
		} else {
			e.Action = ActionInit
		}
		return true
	}
	if freezeSubjectRE.MatchString(subject) {
		e.Action = ActionFreeze
		return true
	}
	return false
}

// ApplyTrailers fills e from git trailers ("Key: value" lines, already
// unfolded, as `git log --format=%(trailers:only,unfold)` prints them).
// Trailers win over what the subject said; unknown keys and malformed
// values are ignored, so a hand-written commit never breaks a reader.
func ApplyTrailers(trailers string, e *Event) {
	for line := range strings.SplitSeq(trailers, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Action":
			e.Action = Action(v)
		case "Environment":
			e.Environment = v
		case "Service":
			e.Service = v
		case "Image":
			e.Image = v
			if tag := imageTag(v); tag != "" {
				e.Tag = tag
			}
			if i := strings.LastIndex(v, "@"); i >= 0 && e.Digest == "" && isDigest(v[i+1:]) {
				e.Digest = v[i+1:]
			}
		case "Image-Digest":
			if isDigest(v) {
				e.Digest = v
			}
		case "Previous-Digest":
			if isDigest(v) {
				e.PreviousDigest = v
			}
		case "Source-Commit":
			e.SourceCommit = v
		case "Source-Time":
			if t, err := time.Parse(time.RFC3339, v); err == nil {
				e.SourceTime = &t
			}
		case "Promoted-From":
			e.PromotedFrom = v
		case "Deployed-By":
			e.DeployedBy = v
		case "Approved-By":
			e.ApprovedBy = v
		case "Pipeline-Run":
			e.PipelineRun = v
		case "Override-Freeze":
			e.OverrideFreeze = v
		default:
			if k := strings.TrimSpace(k); strings.HasPrefix(k, "OIDC-") {
				if e.OIDC == nil {
					e.OIDC = &OIDCClaims{}
				}
				if f := oidcField(e.OIDC, k); f != nil {
					*f = v
				}
			}
			if k := strings.TrimSpace(k); strings.HasPrefix(k, "Gate-") {
				if e.Gate == nil {
					e.Gate = &GateFigures{}
				}
				if f := gateField(e.Gate, k); f != nil {
					*f = v
				}
			}
		}
	}
	if e.Gate != nil && *e.Gate == (GateFigures{}) {
		e.Gate = nil // only Gate-* keys this version does not know
	}
	if e.OIDC != nil && *e.OIDC == (OIDCClaims{}) {
		e.OIDC = nil
	}
}

// imageTag returns the tag of repo:tag@digest (or repo:tag), "" when none.
func imageTag(ref string) string {
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[i+1:]
	}
	return ""
}

// ParseMessage decodes a whole commit message: the subject (first line) and
// the trailers (the last paragraph, when every line of it is "Key: value").
func ParseMessage(msg string) Event {
	var e Event
	msg = strings.ReplaceAll(msg, "\r\n", "\n")
	subject, body, _ := strings.Cut(msg, "\n")
	e.Subject = strings.TrimSpace(subject)
	ParseSubject(e.Subject, &e)
	body = strings.Trim(body, "\n ")
	if body == "" {
		return e
	}
	paras := strings.Split(body, "\n\n")
	last := paras[len(paras)-1]
	for line := range strings.SplitSeq(last, "\n") {
		if k, _, ok := strings.Cut(line, ":"); !ok || k == "" || strings.ContainsAny(k, " \t") {
			return e
		}
	}
	ApplyTrailers(last, &e)
	return e
}

// isDigest reports whether s is sha256:<64 lower-case hex> (a regular
// expression cost more than the rest of a trailer's parsing).
func isDigest(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
