package statefile

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Soak is state/soaks/<env>/<service>/<version>.yaml: a version ran in the
// environment from Since to Until with its metric gate passing the whole
// time (recorded by `smpctl verify --for`, or `smpctl soak record`). The
// environment after it reads the record to decide whether the version may be
// promoted (delivery.yaml's soak).
type Soak struct {
	Version string    `yaml:"version" json:"version"`
	Digest  string    `yaml:"digest" json:"digest"`
	Since   time.Time `yaml:"since" json:"since"`
	Until   time.Time `yaml:"until" json:"until"`
	// Gate is the gate's figures, for a person reading the record.
	Gate string `yaml:"gate,omitempty" json:"gate,omitempty"`
	By   string `yaml:"by,omitempty" json:"by,omitempty"`
}

// Duration is how long the version soaked.
func (s Soak) Duration() time.Duration { return s.Until.Sub(s.Since) }

// Queued is state/queue/<env>/<service>.yaml: the newest automated deploy
// that arrived while the version running in the environment soaked. It
// deploys when the soak ends (`smpctl soak drain`); a newer queued deploy
// replaces the file, so an older one is superseded in the commit that
// replaced it (its Superseded trailer) and stays in git history.
type Queued struct {
	Repository   string    `yaml:"repository" json:"repository"`
	Tag          string    `yaml:"tag" json:"tag"`
	Digest       string    `yaml:"digest" json:"digest"`
	ChartVersion string    `yaml:"chartVersion,omitempty" json:"chartVersion,omitempty"`
	SourceCommit string    `yaml:"sourceCommit,omitempty" json:"sourceCommit,omitempty"`
	SourceTime   time.Time `yaml:"sourceTime,omitempty" json:"sourceTime,omitzero"`
	QueuedAt     time.Time `yaml:"queuedAt" json:"queuedAt"`
	By           string    `yaml:"by,omitempty" json:"by,omitempty"`
	Run          string    `yaml:"run,omitempty" json:"run,omitempty"`
	// Behind is the tag that soaked when the deploy was queued.
	Behind string `yaml:"behind,omitempty" json:"behind,omitempty"`
}

// DecodeSoak reads a soak record.
func DecodeSoak(b []byte) (Soak, error) {
	var s Soak
	err := yaml.Unmarshal(b, &s)
	return s, err
}

// DecodeQueued reads a queue file.
func DecodeQueued(b []byte) (Queued, error) {
	var q Queued
	err := yaml.Unmarshal(b, &q)
	return q, err
}
