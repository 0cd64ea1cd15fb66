package statefile

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestHoldRoundTripsAndOmitsWhatIsNotKnown(t *testing.T) {
	h := Hold{Since: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), By: "oncall", Reason: "rolled back from 3.3.1: 5xx spike", Digest: "sha256:" + strings.Repeat("a", 64)}
	b, err := yaml.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeHold(b)
	if err != nil || got != h {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, h)
	}
	// A hold written by hand with only a reason: JSON readers (status -o json) see no
	// zero time and no empty who.
	bare, err := DecodeHold([]byte("reason: freeze the world\n"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(bare)
	if err != nil {
		t.Fatal(err)
	}
	if string(j) != `{"reason":"freeze the world"}` {
		t.Errorf("JSON of a bare hold: %s", j)
	}
	if _, err := DecodeHold([]byte("since: [not, a, time]\n")); err == nil {
		t.Error("a hold whose since is not a time decoded without an error")
	}
}

func TestApprovalRoundTrips(t *testing.T) {
	a := Approval{Version: "3.3.0", Digest: "sha256:" + strings.Repeat("b", 64), ApprovedBy: "carol", At: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), RequestedBy: "dave"}
	b, err := yaml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "approvedBy: carol") || !strings.Contains(string(b), "requestedBy: dave") {
		t.Errorf("the file's keys changed:\n%s", b)
	}
	got, err := DecodeApproval(b)
	if err != nil || got != a {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, a)
	}
}
