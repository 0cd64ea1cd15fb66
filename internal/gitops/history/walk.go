package history

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// logFormat prints one record per commit: a record separator, then hash,
// committer time, author and the raw message separated by unit separators
// (control characters smpctl never writes into a message). The message is
// parsed here (ParseMessage) rather than with git's %(trailers): git's
// trailer parser roughly doubles the cost of the walk.
const logFormat = "--format=%x1e%H%x1f%ct%x1f%an%x1f%B%x1f"

// logFormatParents is logFormat with the parents after the hash, separated
// by spaces (WalkOptions.Parents).
const logFormatParents = "--format=%x1e%H %P%x1f%ct%x1f%an%x1f%B%x1f"

// WalkOptions narrow a walk.
type WalkOptions struct {
	// From is the commit to start at; default HEAD.
	From string
	// Exclude stops the walk at these commits: a commit they reach is not
	// listed (git log From --not Exclude…), so a walk from a new head
	// with the old one excluded reads only the commits that came since.
	Exclude []string
	// Parents fills WalkEvent.Parents.
	Parents bool
	// Paths limits the walk to commits that touch them (git pathspecs).
	Paths []string
	// Files lists, in Event.Files order, the paths each commit changed
	// (costs a tree diff per commit).
	Files bool
	// Commits, when set, lists exactly these commits (in this order)
	// instead of walking from From.
	Commits []string
	// Timeout bounds the whole walk; default gitcmd's.
	Timeout time.Duration
}

// WalkEvent is an Event with the files its commit changed (WalkOptions.Files).
type WalkEvent struct {
	Event
	Files []string
	// Parents are the commit's parents (WalkOptions.Parents): none for a
	// root commit, two or more for a merge.
	Parents []string
}

// errStop ends a walk early without an error.
var errStop = errors.New("stop walk")

// Walk streams the history, newest first, through one `git log` process.
// fn returns false to stop early; the process is then killed, so a walk that
// finds what it needs in the last few commits does not read the rest.
func (r *Repo) Walk(ctx context.Context, o WalkOptions, fn func(*WalkEvent) bool) error {
	if r.onWalk != nil {
		r.onWalk(o)
	}
	from := o.From
	if from == "" {
		from = "HEAD"
	}
	format := logFormat
	if o.Parents {
		format = logFormatParents
	}
	args := []string{"log", "--no-color", "--no-renames", format}
	if o.Files {
		args = append(args, "--name-only")
	}
	if len(o.Commits) > 0 {
		args = append(args, "--no-walk=unsorted", "--stdin")
	} else {
		args = append(args, from)
		if len(o.Exclude) > 0 {
			args = append(args, "--not")
			args = append(args, o.Exclude...)
		}
	}
	args = append(args, "--")
	args = append(args, o.Paths...)
	g := r.git
	if o.Timeout > 0 {
		g.Timeout = o.Timeout
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd, cmdCancel := g.Command(ctx, args...)
	defer cmdCancel()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if len(o.Commits) > 0 {
		cmd.Stdin = strings.NewReader(strings.Join(o.Commits, "\n") + "\n")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("git log: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git log: %w", err)
	}
	perr := parseLog(out, fn)
	if perr != nil {
		// Stopped early or unreadable: kill git rather than let it block
		// on a full pipe until its timeout.
		cancel()
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		if errors.Is(perr, errStop) {
			return nil
		}
		return fmt.Errorf("read history of %s: %w", r.Source, perr)
	}
	werr := cmd.Wait()
	if werr != nil {
		return fmt.Errorf("read history of %s: git log: %w: %s", r.Source, werr, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// parseLog decodes logFormat records from r and calls fn for each.
func parseLog(r io.Reader, fn func(*WalkEvent) bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	// Skip to the first record separator.
	if _, err := br.ReadBytes(0x1e); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	for {
		rec, err := br.ReadBytes(0x1e)
		last := errors.Is(err, io.EOF)
		if err != nil && !last {
			return err
		}
		rec = bytes.TrimSuffix(rec, []byte{0x1e})
		if len(rec) > 0 {
			ev, perr := parseRecord(rec)
			if perr != nil {
				return perr
			}
			if !fn(ev) {
				return errStop
			}
		}
		if last {
			return nil
		}
	}
}

// parseRecord decodes one record: hash (and, with WalkOptions.Parents, the
// parents after it), time, author, message, then (with --name-only) the
// changed files, one per line.
func parseRecord(rec []byte) (*WalkEvent, error) {
	f := bytes.SplitN(rec, []byte{0x1f}, 5)
	if len(f) != 5 {
		return nil, fmt.Errorf("malformed git log record %q", truncate(string(rec), 80))
	}
	secs, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("malformed commit time %q", f[1])
	}
	ev := &WalkEvent{Event: ParseMessage(string(f[3]))}
	commit, parents, _ := strings.Cut(string(f[0]), " ")
	ev.Commit, ev.Time, ev.Author = commit, time.Unix(secs, 0).UTC(), string(f[2])
	if parents != "" {
		ev.Parents = strings.Fields(parents)
	}
	for line := range strings.SplitSeq(string(f[4]), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			ev.Files = append(ev.Files, line)
		}
	}
	return ev, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
