package history

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseMessageReadsSubjectsAndTrailersOfTheFormat(t *testing.T) {
	t.Parallel()
	st := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		msg  string
		want Event
	}{
		{
			name: "a deploy with every trailer",
			msg: "deploy(dev): order-svc → sha-1a2b3c4\n\nAction: deploy\nEnvironment: dev\nService: order-svc\n" +
				"Image: ghcr.io/smp/order-svc:sha-1a2b3c4@" + digest('a') + "\nImage-Digest: " + digest('a') +
				"\nPrevious-Digest: " + digest('b') + "\nSource-Commit: 1a2b3c4d\nSource-Time: 2026-11-20T08:00:00Z\n" +
				"Deployed-By: ci-bot\nPipeline-Run: https://ci/run/1\n",
			want: Event{Subject: "deploy(dev): order-svc → sha-1a2b3c4", Action: ActionDeploy, Environment: "dev",
				Service: "order-svc", Tag: "sha-1a2b3c4", Image: "ghcr.io/smp/order-svc:sha-1a2b3c4@" + digest('a'),
				Digest: digest('a'), PreviousDigest: digest('b'), SourceCommit: "1a2b3c4d", SourceTime: &st,
				DeployedBy: "ci-bot", PipelineRun: "https://ci/run/1"},
		},
		{
			name: "a subject without trailers still says what happened",
			msg:  "rollback(prod): order-svc → 3.2.0",
			want: Event{Subject: "rollback(prod): order-svc → 3.2.0", Action: ActionRollback, Environment: "prod", Service: "order-svc", Tag: "3.2.0"},
		},
		{
			name: "a gate watch's rollback carries the gate's figures",
			msg: "rollback(prod): order-svc → 3.3.0\n\nAction: rollback\nDeployed-By: smpctl-gate\nGate-Verdict: failed\nGate-Version: 3.3.1\n" +
				"Gate-Baseline: 3.3.0\nGate-Window: 30s\nGate-Requests: 1379\nGate-Error-Rate: 0.4995\nGate-P95: 2.4ms\n" +
				"Gate-Baseline-P95: 2.5ms\nGate-Failed: error rate\nGate-Watched: 2s\nGate-Future: ignored\n",
			want: Event{Subject: "rollback(prod): order-svc → 3.3.0", Action: ActionRollback, Environment: "prod", Service: "order-svc", Tag: "3.3.0",
				DeployedBy: "smpctl-gate", Gate: &GateFigures{Verdict: "failed", Version: "3.3.1", Baseline: "3.3.0", Window: "30s", Requests: "1379",
					ErrorRate: "0.4995", P95: "2.4ms", BaselineP95: "2.5ms", Failed: "error rate", Watched: "2s"}},
		},
		{
			name: "only Gate-* keys it does not know: no figures",
			msg:  "hold(prod): order-svc\n\nAction: hold\nGate-Future: x\n",
			want: Event{Subject: "hold(prod): order-svc", Action: ActionHold, Environment: "prod", Service: "order-svc"},
		},
		{
			name: "an approval names the version",
			msg:  "approve(prod): order-svc 3.3.0\n\nAction: approve\nApproved-By: carol",
			want: Event{Subject: "approve(prod): order-svc 3.3.0", Action: ActionApprove, Environment: "prod", Service: "order-svc", Version: "3.3.0", ApprovedBy: "carol"},
		},
		{
			name: "a promotion says where from",
			msg:  "promote(prod): order-svc → 3.3.0\n\nPromoted-From: staging\nApproved-By: carol\nOverride-Freeze: hotfix for INC-7",
			want: Event{Subject: "promote(prod): order-svc → 3.3.0", Action: ActionPromote, Environment: "prod", Service: "order-svc", Tag: "3.3.0", PromotedFrom: "staging", ApprovedBy: "carol", OverrideFreeze: "hotfix for INC-7"},
		},
		{
			name: "holds, freezes and the scaffold's commits",
			msg:  "release-hold(prod): order-svc",
			want: Event{Subject: "release-hold(prod): order-svc", Action: ActionReleaseHold, Environment: "prod", Service: "order-svc"},
		},
		{name: "gitops add", msg: "gitops: add order-svc", want: Event{Subject: "gitops: add order-svc", Action: ActionAddService, Service: "order-svc"}},
		{name: "freeze", msg: "freeze: add weekend", want: Event{Subject: "freeze: add weekend", Action: ActionFreeze}},
		{
			name: "a hand-written commit is no action, and prose is not trailers",
			msg:  "bump replicas\n\nWe need more: traffic doubled.",
			want: Event{Subject: "bump replicas"},
		},
		{
			name: "malformed trailer values are ignored",
			msg:  "deploy(dev): a → b\n\nImage-Digest: sha256:short\nSource-Time: yesterday",
			want: Event{Subject: "deploy(dev): a → b", Action: ActionDeploy, Environment: "dev", Service: "a", Tag: "b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ParseMessage(tt.msg)
			if got.SourceTime != nil && tt.want.SourceTime != nil && got.SourceTime.Equal(*tt.want.SourceTime) {
				got.SourceTime = tt.want.SourceTime
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseMessage:\n got %+v (gate %+v)\nwant %+v (gate %+v)", got, got.Gate, tt.want, tt.want.Gate)
			}
		})
	}
}

func TestImageTagHandlesRegistryPorts(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string]string{
		"localhost:5000/smp/order-svc:1.2.3@" + digest('a'): "1.2.3",
		"localhost:5000/smp/order-svc@" + digest('a'):       "",
		"ghcr.io/smp/order-svc:sha-1a2b3c4":                 "sha-1a2b3c4",
	} {
		if got := imageTag(ref); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", ref, got, want)
		}
	}
}

// FuzzParseMessage: any message decodes without panicking, and what it
// decodes is consistent with the subject it came from.
func FuzzParseMessage(f *testing.F) {
	f.Add("deploy(dev): order-svc → sha-1\n\nAction: deploy\nImage: r:t@" + digest('a'))
	f.Add("approve(prod): x 1.0.0\n\nApproved-By: c")
	f.Add("rollback(prod): a → b\r\n\r\nPrevious-Digest: " + digest('b'))
	f.Add("\n\n:\n")
	f.Fuzz(func(t *testing.T, msg string) {
		e := ParseMessage(msg)
		if e.Digest != "" && !digestRE.MatchString(e.Digest) {
			t.Fatalf("digest %q is not sha256:<64 hex>", e.Digest)
		}
		if e.PreviousDigest != "" && !digestRE.MatchString(e.PreviousDigest) {
			t.Fatalf("previous digest %q is not sha256:<64 hex>", e.PreviousDigest)
		}
	})
}

func TestParseLogReadsRecordsAndRefusesGarbage(t *testing.T) {
	t.Parallel()
	stream := "\x1eabc\x1f1700000000\x1fbot\x1fdeploy(dev): a → b\n\nAction: deploy\n\x1f\nenvironments/dev/a.yaml\n" +
		"\x1edef\x1f1700000001\x1fbot\x1fhand edit\n\x1f\n"
	var got []string
	err := parseLog(strings.NewReader(stream), func(ev *WalkEvent) bool {
		got = append(got, ev.Commit+":"+string(ev.Action)+":"+strings.Join(ev.Files, ","))
		return true
	})
	if err != nil || strings.Join(got, " ") != "abc:deploy:environments/dev/a.yaml def::" {
		t.Errorf("parseLog = %v, %v", got, err)
	}
	n := 0
	if err := parseLog(strings.NewReader(stream), func(*WalkEvent) bool { n++; return false }); !errors.Is(err, errStop) || n != 1 {
		t.Errorf("stop after one: n=%d err=%v", n, err)
	}
	if err := parseLog(strings.NewReader("\x1eabc\x1fnot-a-time\x1fa\x1fb\x1f"), func(*WalkEvent) bool { return true }); err == nil {
		t.Error("a bad commit time was accepted")
	}
	if err := parseLog(strings.NewReader("\x1eonly-two\x1ffields"), func(*WalkEvent) bool { return true }); err == nil {
		t.Error("a short record was accepted")
	}
	if err := parseLog(strings.NewReader(""), func(*WalkEvent) bool { return true }); err != nil {
		t.Errorf("empty history: %v", err)
	}
}

func TestByNamesTheApproverOfAnApproval(t *testing.T) {
	t.Parallel()
	e := ParseMessage("approve(prod): order-svc 3.3.0\n\nAction: approve\nApproved-By: carol\nDeployed-By: bob")
	e.Author = "smpctl-bot"
	if e.By() != "carol" {
		t.Errorf("approval by %q, want carol", e.By())
	}
	e = ParseMessage("deploy(prod): order-svc → 3.3.0\n\nDeployed-By: bob\nApproved-By: carol")
	if e.By() != "bob" {
		t.Errorf("deploy by %q, want bob", e.By())
	}
	e = Event{Author: "mallory"}
	if e.By() != "mallory" {
		t.Errorf("hand edit by %q, want its author", e.By())
	}
}

// digestRE is the fuzz test's oracle for isDigest: the format written as a
// regular expression, independently of the code.
var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func TestGateErrorPercent(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"0.4995": "49.95%", "0": "0.00%", "n/a": "n/a"} {
		if got := (&GateFigures{ErrorRate: in}).ErrorPercent(); got != want {
			t.Errorf("ErrorPercent(%q) = %q, want %q", in, got, want)
		}
	}
}
