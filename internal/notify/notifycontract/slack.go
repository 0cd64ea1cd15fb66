package notifycontract

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// SlackWebhookPath is the path of the webhook NewSlack serves; the last
// element is the secret part of a real webhook URL.
const SlackWebhookPath = "/services/T0SMP0001/B0SMP0001/s3cr3tW3bh00kT0k3n"

// Slack is the recorded contract of a Slack incoming webhook with Block
// Kit blocks, from https://api.slack.com/messaging/webhooks (POST of a JSON
// message; 200 "ok"; errors as plain-text codes: 400 invalid_payload,
// 404 no_service for a revoked webhook, 410 channel_is_archived,
// 429 with Retry-After when rate limited), and the block references
// https://api.slack.com/reference/block-kit/blocks#section (text: a text
// object of at most 3000 characters) and #context (elements: 1 to 10 image
// or text objects). A message holds at most 50 blocks.
type Slack struct{ *server }

// Answers the real webhook gives.
var (
	SlackOK          = Answer{Status: http.StatusOK, Body: "ok"}
	SlackRevoked     = Answer{Status: http.StatusNotFound, Body: "no_service"}
	SlackArchived    = Answer{Status: http.StatusGone, Body: "channel_is_archived"}
	SlackServerError = Answer{Status: http.StatusInternalServerError, Body: "rollup_error"}
)

// SlackRateLimited is the webhook's 429, asking to wait seconds.
func SlackRateLimited(seconds int) Answer {
	return Answer{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": fmt.Sprint(seconds)}, Body: "rate_limited"}
}

// NewSlack starts a Slack webhook contract server, closed and checked at t's cleanup.
func NewSlack(t testing.TB) *Slack {
	return &Slack{newServer(t, "slack", checkSlack, Answer{Status: http.StatusBadRequest, Body: "invalid_payload"}, SlackOK)}
}

// WebhookURL is the (secret) URL to post to.
func (s *Slack) WebhookURL() string { return s.URL + SlackWebhookPath }

func checkSlack(r *http.Request, m map[string]any) []string {
	var p []string
	if r.Method != http.MethodPost {
		p = append(p, "method "+r.Method+", want POST")
	}
	if r.URL.Path != SlackWebhookPath {
		p = append(p, "path "+r.URL.Path+" is not the webhook's")
	}
	if _, ok := str(m, "text"); !ok {
		// Slack accepts blocks without text, but then notifications
		// (and screen readers) have nothing to show.
		p = append(p, "no text: the fallback shown in notifications is required with blocks")
	}
	blocks, ok := m["blocks"].([]any)
	if !ok || len(blocks) == 0 || len(blocks) > 50 {
		return append(p, "blocks: want an array of 1 to 50 blocks")
	}
	for i, b := range blocks {
		blk, _ := b.(map[string]any)
		typ, _ := str(blk, "type")
		switch typ {
		case "section":
			txt, _ := blk["text"].(map[string]any)
			p = append(p, checkTextObject(fmt.Sprintf("blocks[%d].text", i), txt, 3000)...)
		case "context":
			els, _ := blk["elements"].([]any)
			if len(els) == 0 || len(els) > 10 {
				p = append(p, fmt.Sprintf("blocks[%d].elements: want 1 to 10", i))
			}
			for j, e := range els {
				el, _ := e.(map[string]any)
				p = append(p, checkTextObject(fmt.Sprintf("blocks[%d].elements[%d]", i, j), el, 3000)...)
			}
		case "divider", "header":
		default:
			p = append(p, fmt.Sprintf("blocks[%d].type %q is not a block type notify uses (section, context, divider, header)", i, typ))
		}
	}
	return p
}

func checkTextObject(where string, t map[string]any, limit int) []string {
	typ, _ := str(t, "type")
	text, ok := str(t, "text")
	switch {
	case !oneOf(typ, "mrkdwn", "plain_text"):
		return []string{where + `.type: want "mrkdwn" or "plain_text"`}
	case !ok:
		return []string{where + ".text: empty"}
	case len([]rune(text)) > limit:
		return []string{fmt.Sprintf("%s.text: %d characters, more than %d", where, len([]rune(text)), limit)}
	case typ == "mrkdwn" && strings.Contains(strings.NewReplacer("<http", "", "<https", "").Replace(text), "<"):
		return []string{where + ".text: an unescaped < that is not a link (escape &, < and > as &amp; &lt; &gt;)"}
	}
	return nil
}
