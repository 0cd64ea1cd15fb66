package statefile

import (
	"time"

	"gopkg.in/yaml.v3"
)

// NotificationsDir holds one outbox per environment and service:
// state/notifications/<env>/<service>.yaml.
const NotificationsDir = "state/notifications"

// NotificationsPath is the outbox of svc in env.
func NotificationsPath(env, svc string) string {
	return NotificationsDir + "/" + env + "/" + svc + ".yaml"
}

// Outbox is state/notifications/<env>/<service>.yaml: the notifications
// about the service in the environment that could not be sent (a Slack
// message, a PagerDuty page, a Grafana annotation, an incident issue), kept
// until a resend delivers them, and for a while after as the record that
// it did. It exists only while something failed: a notification that is
// sent at once is never written here, so the repository gains a commit
// only when someone has something to act on.
type Outbox struct {
	Deliveries []Delivery `yaml:"deliveries" json:"deliveries"`
	// Sent are notifications whose event no other commit records, written
	// before they were sent so that a re-run does not send them again.
	Sent []Sent `yaml:"sent,omitempty" json:"sent,omitempty"`
}

// Sent is a notification recorded before it was sent, because its event
// writes nothing else to git: the gate watch's notify-only verdict
// (onGateFailure: notify). ChangeID is the Change-Id of the commit that
// recorded it (gate-notify-<env>-<service>-<digest16>); a re-run of the
// same watch finds that commit and sends nothing. Its failed deliveries,
// if any, are Deliveries of that commit, as any other event's.
type Sent struct {
	ChangeID string            `yaml:"changeID" json:"changeID"`
	SentAt   time.Time         `yaml:"sentAt" json:"sentAt"`
	Event    NotificationEvent `yaml:"event" json:"event"`
}

// The states of a Delivery.
const (
	// DeliveryFailed: not sent; a resend may pick it up.
	DeliveryFailed = "failed"
	// DeliverySending: a resend claimed it and is sending it; another
	// resend leaves it alone until the claim is old (the resender died).
	DeliverySending = "sending"
	// DeliveryDelivered: a resend sent it; it is never sent again.
	DeliveryDelivered = "delivered"
)

// Delivery is one event's notification to one target (one Sender of
// package notify).
type Delivery struct {
	// Key identifies the event and the target (the event's GitOps commit
	// and the sender's name): the dedupe key that keeps a delivered message
	// from being sent again.
	Key string `yaml:"key" json:"key"`
	// Commit is the GitOps commit of the deploy, promotion, rollback or
	// hold the event reports.
	Commit string `yaml:"commit" json:"commit"`
	// Sender names the target as delivery.yaml's notifications list it:
	// slack[0], pagerduty[0], grafana, github.
	Sender   string `yaml:"sender" json:"sender"`
	State    string `yaml:"state" json:"state"`
	Attempts int    `yaml:"attempts" json:"attempts"`
	// Error is the last failure, with what to do; no secret is ever in it.
	Error    string    `yaml:"error,omitempty" json:"error,omitempty"`
	FailedAt time.Time `yaml:"failedAt" json:"failedAt"`
	// Claim identifies the resend that set DeliverySending, ClaimedBy who
	// ran it and ClaimedAt when.
	Claim     string     `yaml:"claim,omitempty" json:"claim,omitempty"`
	ClaimedBy string     `yaml:"claimedBy,omitempty" json:"claimedBy,omitempty"`
	ClaimedAt *time.Time `yaml:"claimedAt,omitempty" json:"claimedAt,omitempty"`
	// DeliveredAt and DeliveredBy: when a resend sent it, run by whom;
	// Link is what it created (the incident issue's URL), if anything.
	DeliveredAt *time.Time `yaml:"deliveredAt,omitempty" json:"deliveredAt,omitempty"`
	DeliveredBy string     `yaml:"deliveredBy,omitempty" json:"deliveredBy,omitempty"`
	Link        string     `yaml:"link,omitempty" json:"link,omitempty"`
	// Event is what is resent, as it was first sent.
	Event NotificationEvent `yaml:"event" json:"event"`
}

// NotificationEvent is the part of a notify.Event a resend needs besides
// the environment and service (the file's path names them).
type NotificationEvent struct {
	Kind            string `yaml:"kind" json:"kind"`
	Version         string `yaml:"version,omitempty" json:"version,omitempty"`
	Digest          string `yaml:"digest,omitempty" json:"digest,omitempty"`
	PreviousVersion string `yaml:"previousVersion,omitempty" json:"previousVersion,omitempty"`
	PreviousDigest  string `yaml:"previousDigest,omitempty" json:"previousDigest,omitempty"`
	By              string `yaml:"by,omitempty" json:"by,omitempty"`
	ApprovedBy      string `yaml:"approvedBy,omitempty" json:"approvedBy,omitempty"`
	Reason          string `yaml:"reason,omitempty" json:"reason,omitempty"`
	DiffURL         string `yaml:"diffURL,omitempty" json:"diffURL,omitempty"`
	RunURL          string `yaml:"runURL,omitempty" json:"runURL,omitempty"`
	IncidentURL     string `yaml:"incidentURL,omitempty" json:"incidentURL,omitempty"`
	// GateFailed: a failed metric gate wrote this rollback or hold.
	GateFailed bool      `yaml:"gateFailed,omitempty" json:"gateFailed,omitempty"`
	Time       time.Time `yaml:"time" json:"time"`
}

// DecodeOutbox reads an outbox file.
func DecodeOutbox(b []byte) (Outbox, error) {
	var o Outbox
	err := yaml.Unmarshal(b, &o)
	return o, err
}

// EncodeOutbox writes an outbox file.
func EncodeOutbox(o Outbox) ([]byte, error) { return yaml.Marshal(o) }
