// Command gotestbin is make test's `go test` for a set of packages whose
// test binaries are kept between runs. go test links every test binary
// again on every run, even when nothing changed (measured with process
// accounting on a warm make test: 50 CPU-s of 675 were go test's own links
// of 62 test binaries). `go test -c -o DIR/` leaves an up-to-date binary
// alone (go checks the build ID of the file already there), so the binaries
// are built into a kept directory, then each is run as go test runs it:
// from its package's directory, through test2json, with the flags given.
//
//	gotestbin -bin DIR -test2json PATH [-p N] [-tags T] [-build FLAGS]
//	          [-exec PROG] [-coverprofile FILE] [-run FLAGS] PACKAGES...
//
// It writes test2json events on standard output, each package's whole once
// it ends (gotestsum --raw-command reads them), and exits 1 when a build or
// a package fails. Builds into DIR are serialised across processes with a
// file lock, and each binary is hard-linked into a directory of this run's
// before it runs: go replaces a binary it rebuilds with a new file, so a
// later build (another checkout's make test) never touches what runs here.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/smp/delivery/internal/filelock"
	"github.com/smp/delivery/internal/hardlink"
)

type pkg struct {
	importPath, dir string
	batch           int // which build directory: go names a binary after the last element of its import path
}

func main() {
	bin := flag.String("bin", "", "where the test binaries are kept between runs")
	t2j := flag.String("test2json", "", "the test2json binary (go build cmd/test2json)")
	par := flag.Int("p", 2, "how many test binaries run at once")
	tags := flag.String("tags", "", "build tags (go list and go test -c)")
	build := flag.String("build", "", "other go test -c flags, space-separated")
	execProg := flag.String("exec", "", "a program that runs each test binary (as go test -exec)")
	cover := flag.String("coverprofile", "", "write the merged coverage profile here")
	run := flag.String("run", "", "flags for each test binary, space-separated (-test.count=1 -test.timeout=45m)")
	flag.Parse()
	if *bin == "" || *t2j == "" || flag.NArg() == 0 || *par < 1 {
		fmt.Fprintln(os.Stderr, "usage: gotestbin -bin DIR -test2json PATH [-p N] [-tags T] [-build FLAGS] [-exec PROG] [-coverprofile FILE] [-run FLAGS] PACKAGES...")
		os.Exit(2)
	}
	if err := runAll(context.Background(), *bin, *t2j, *par, *tags, strings.Fields(*build), *execProg, *cover, strings.Fields(*run), flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "gotestbin: %v\n", err)
		os.Exit(1)
	}
}

func runAll(ctx context.Context, bin, t2j string, par int, tags string, buildFlags []string, execProg, cover string, runFlags, patterns []string) error {
	pkgs, noTests, err := list(ctx, tags, patterns)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	runDir, err := os.MkdirTemp("", "gotestbin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(runDir)
	if err := buildAndLink(ctx, bin, runDir, tags, buildFlags, pkgs); err != nil {
		return err
	}

	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
	)
	jobs := make(chan int)
	for range par {
		wg.Go(func() {
			for i := range jobs {
				p := pkgs[i]
				var out bytes.Buffer
				err := runOne(ctx, t2j, execProg, runDir, p, i, runFlags, cover != "", &out)
				mu.Lock()
				_, _ = os.Stdout.Write(out.Bytes())
				if err != nil {
					failed = append(failed, p.importPath)
				}
				mu.Unlock()
			}
		})
	}
	for i := range pkgs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	if cover != "" {
		if err := noTestsProfile(ctx, tags, buildFlags, noTests, filepath.Join(runDir, "notests.cover")); err != nil {
			return err
		}
		if err := mergeProfiles(cover, runDir, len(pkgs)); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d package(s) failed: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

// list returns the packages with tests, in the order the patterns name
// them, and the import paths of those without.
func list(ctx context.Context, tags string, patterns []string) ([]pkg, []string, error) {
	args := []string{"list"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, "-f", "{{.ImportPath}}\t{{.Dir}}\t{{if or .TestGoFiles .XTestGoFiles}}tests{{end}}")
	args = append(args, patterns...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go list: %w", err)
	}
	var (
		pkgs    []pkg
		noTests []string
	)
	names := map[string]int{} // binary name → how many batches use it
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 {
			continue
		}
		if f[2] == "" {
			noTests = append(noTests, f[0])
			continue
		}
		name := path.Base(f[0])
		pkgs = append(pkgs, pkg{importPath: f[0], dir: f[1], batch: names[name]})
		names[name]++
	}
	return pkgs, noTests, sc.Err()
}

// noTestsProfile writes the profile go test gives packages without tests
// (their blocks, at 0), so that the merged profile counts the same
// statements as go test's: main packages no test can link (cmd/smpctl)
// would otherwise leave the total. It links nothing; the packages' compiles
// come from the build cache.
func noTestsProfile(ctx context.Context, tags string, buildFlags, pkgs []string, dst string) error {
	if len(pkgs) == 0 {
		return nil
	}
	args := []string{"test"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, buildFlags...)
	args = append(args, "-count=1", "-coverprofile="+dst)
	args = append(args, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test of the %d packages without tests (their coverage at 0): %w", len(pkgs), err)
	}
	return nil
}

// buildAndLink builds the test binaries into bin (one go test -c per batch
// of packages whose binary names differ) and hard-links each into runDir.
func buildAndLink(ctx context.Context, bin, runDir, tags string, buildFlags []string, pkgs []pkg) error {
	unlock, err := filelock.Lock(ctx, filepath.Join(bin, ".lock"))
	if err != nil {
		return fmt.Errorf("test binaries in %s: %w", bin, err)
	}
	defer unlock()

	batches := map[int][]string{}
	for _, p := range pkgs {
		batches[p.batch] = append(batches[p.batch], p.importPath)
	}
	for b := 0; b < len(batches); b++ {
		dir := filepath.Join(bin, fmt.Sprint(b))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		args := []string{"test", "-c", "-o", dir + string(filepath.Separator)}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		args = append(args, buildFlags...)
		args = append(args, batches[b]...)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go test -c (%d packages): %w", len(batches[b]), err)
		}
	}
	for i, p := range pkgs {
		src := filepath.Join(bin, fmt.Sprint(p.batch), path.Base(p.importPath)+".test")
		// One directory per package: the binary keeps its name (testcpu
		// and process accounting report it).
		dst := filepath.Join(runDir, fmt.Sprint(i), path.Base(p.importPath)+".test")
		if err := os.Mkdir(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := hardlink.OrCopy(src, dst); err != nil {
			return err
		}
	}
	return nil
}

// runOne runs package i's binary from its directory through test2json, as
// go test -json does, and writes the events to out.
func runOne(ctx context.Context, t2j, execProg, runDir string, p pkg, i int, runFlags []string, cover bool, out io.Writer) error {
	binPath := filepath.Join(runDir, fmt.Sprint(i), path.Base(p.importPath)+".test")
	args := []string{"-t", "-p", p.importPath}
	if execProg != "" {
		args = append(args, execProg)
	}
	args = append(args, binPath, "-test.v=test2json", "-test.paniconexit0")
	var env []string // nil: this process's environment
	args = append(args, runFlags...)
	if cover {
		// As go test does (the flag, and GOCOVERDIR in the environment): the
		// binary, and every copy of it a test runs as a command (testscript's
		// smpctl), write their counters here, and the binary adds them all to
		// its profile at its end. Without it those copies print "warning:
		// GOCOVERDIR not set" and count nothing.
		covdir := filepath.Join(runDir, fmt.Sprint(i), "gocoverdir")
		if err := os.Mkdir(covdir, 0o755); err != nil {
			return err
		}
		args = append(args, "-test.gocoverdir="+covdir, "-test.coverprofile="+filepath.Join(runDir, fmt.Sprintf("%d.cover", i)))
		env = append(os.Environ(), "GOCOVERDIR="+covdir)
	}
	cmd := exec.CommandContext(ctx, t2j, args...) //nolint:gosec // G204: the test binaries this run built
	cmd.Dir, cmd.Env = p.dir, env
	cmd.Stdout, cmd.Stderr = out, out
	return cmd.Run()
}

// mergeProfiles writes one profile from each package's, as go test does
// for several packages: the mode line once, then every block (go tool cover
// adds up blocks that repeat). Like go test's, each package's profile holds
// the -coverpkg packages its binary links, and packages without tests
// count at 0 (notests.cover).
func mergeProfiles(dst, runDir string, n int) error {
	var merged bytes.Buffer
	files := []string{filepath.Join(runDir, "notests.cover")}
	for i := range n {
		files = append(files, filepath.Join(runDir, fmt.Sprintf("%d.cover", i)))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue // no package without tests, or a package that failed before writing one
		}
		if err != nil {
			return err
		}
		mode, rest, _ := bytes.Cut(b, []byte("\n"))
		if merged.Len() == 0 {
			merged.Write(mode)
			merged.WriteByte('\n')
		}
		merged.Write(rest)
	}
	return os.WriteFile(dst, merged.Bytes(), 0o644)
}
