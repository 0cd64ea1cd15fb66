package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Error is a failed send, said for the person who reads the Report.
type Error struct {
	// Sender is the sender's Name.
	Sender string
	// Status is the HTTP status, 0 when there was no answer.
	Status int
	// Code is the service's own error code, e.g. Slack's no_service.
	Code string
	// Hint says what to do.
	Hint string
	// Temporary is true when another attempt may succeed (no answer, 429, 5xx).
	Temporary bool
	// RetryAfter is how long the service asked to wait, if it did.
	RetryAfter time.Duration
	// Err is the cause, if any; never one that holds a secret.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Sender)
	b.WriteString(": ")
	if e.Status != 0 {
		fmt.Fprintf(&b, "%d ", e.Status)
	}
	if e.Code != "" {
		b.WriteString(e.Code)
	}
	if e.Err != nil {
		if e.Code != "" {
			b.WriteString(": ")
		}
		b.WriteString(e.Err.Error())
	}
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// answer is a service's HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// postJSON posts v as JSON to u with the headers given and reads the
// answer (at most 64 KiB). A transport failure is an *Error that names
// the host only: the URL of a Slack webhook is itself the secret, and
// net/http's errors quote it whole.
func postJSON(ctx context.Context, c *http.Client, sender, u string, headers map[string]string, v any) (answer, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return answer{}, &Error{Sender: sender, Err: fmt.Errorf("encode the request: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return answer{}, &Error{Sender: sender, Err: errors.New("the URL is not valid"), Hint: "check the secret or URL it is read from"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "smpctl-notify")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, unreachable(sender, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// unreachable describes a request that got no answer, naming the host only.
func unreachable(sender string, u *url.URL, err error) *Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	cause := "no answer"
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		cause = "no answer in time"
	case errors.As(err, &oe) && oe.Err != nil:
		cause = oe.Op + ": " + oe.Err.Error()
	case errors.Is(err, context.Canceled):
		cause = "canceled"
	}
	return &Error{
		Sender:    sender,
		Err:       fmt.Errorf("cannot reach %s (%s)", u.Host, cause),
		Hint:      "check that this machine can reach it (network, proxy, firewall) and that the address is right; the deploy or rollback is done, send the message by hand if it matters",
		Temporary: true,
	}
}

// statusError is the *Error for an answer that is not a success, with the
// retry decision every service here shares: 429 and 5xx are temporary.
func statusError(sender string, a answer, code, hint string) *Error {
	e := &Error{Sender: sender, Status: a.status, Code: code, Hint: hint}
	if a.status == http.StatusTooManyRequests || a.status >= 500 {
		e.Temporary = true
		e.RetryAfter = retryAfter(a.header.Get("Retry-After"))
		if e.Hint == "" {
			e.Hint = "the service is busy or failing; smpctl retried, try again later"
		}
	}
	return e
}

// retryAfter parses Retry-After in seconds or as an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// short returns the first 12 hex digits of a digest, as the CLI shows them.
func short(digest string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
