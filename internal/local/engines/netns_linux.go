package engines

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/smp/delivery/internal/local/childproc"
)

// sandbox is a network namespace with only a loopback interface, made by
// this process for one cluster. Components that bind 0.0.0.0 or fixed ports
// (Argo Rollouts' controller, Argo CD's application controller) run inside
// it, where nothing but the sandbox's own loopback can reach them and two
// clusters never collide on a port.
//
// Nothing else runs to maintain it. The namespace is made by one OS thread
// of this process (unshare), kept alive by an open file of it, and entered
// by threads locked for that purpose: a child started from such a thread
// is born inside (fork copies the thread's namespaces), a socket created on
// it belongs to the namespace for good. So the bridge that lets the
// components reach the host's loopback ports (the apiserver, Redis, the
// repository server) is a listener this process opened inside the sandbox,
// on the same port number, whose connections a goroutine forwards to the
// host port: the components' kubeconfig and flags name 127.0.0.1:<port> as
// anyone else's do, and nothing is left behind when this process ends.
// Each locked thread is never unlocked, so the Go runtime discards it
// instead of reusing a thread that sits in another namespace (the main
// thread, which cannot end, it parks for good: /proc/self/ns/net may then
// name a sandbox, /proc/thread-self/ns/net does not).
type sandbox struct {
	ns *os.File // /proc/<tid>/ns/net of the thread that made it

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]struct{}
}

// newSandbox makes the namespace and brings its loopback up. It needs
// CAP_SYS_ADMIN (root).
func newSandbox() (*sandbox, error) {
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see sandbox
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("unshare the network namespace (Argo Rollouts and Argo CD need root: they run in a network namespace of their own): %w", err)}
			return
		}
		f, err := os.Open("/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net")
		if err != nil {
			ch <- result{err: fmt.Errorf("open the new network namespace: %w", err)}
			return
		}
		if err := loopbackUp(); err != nil {
			_ = f.Close()
			ch <- result{err: err}
			return
		}
		ch <- result{f: f}
	}()
	r := <-ch
	if r.err != nil {
		return nil, r.err
	}
	return &sandbox{ns: r.f, conns: map[net.Conn]struct{}{}}, nil
}

// loopbackUp sets IFF_UP on lo in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: set flags: %w", err)
	}
	return nil
}

// inside runs f on a thread that has entered the sandbox, and waits for it.
func (s *sandbox) inside(f func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see sandbox
		if err := unix.Setns(int(s.ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("enter the network namespace: %w", err)
			return
		}
		ch <- f()
	}()
	return <-ch
}

// start starts cmd inside the sandbox. nsenter enters the namespace (passed
// as an inherited descriptor) and execs the command, so the child can be
// forked by childproc's long-lived thread: it then dies with this
// process however that ends, a timeout's panic included (a thread locked into
// the namespace would end, and with it a parent-death signal's trigger).
func (s *sandbox) start(cmd *exec.Cmd) error {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return fmt.Errorf("start %s in the network namespace: %w (util-linux's nsenter)", cmd.Path, err)
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, s.ns)
	fd := 2 + len(cmd.ExtraFiles) // ExtraFiles[i] is descriptor 3+i in the child
	cmd.Args = append([]string{nsenter, fmt.Sprintf("--net=/proc/self/fd/%d", fd), "--", cmd.Path}, cmd.Args[1:]...)
	cmd.Path = nsenter
	return childproc.Start(cmd)
}

// bridge makes the host's 127.0.0.1:port answer on 127.0.0.1:port inside
// the sandbox.
func (s *sandbox) bridge(port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var ln net.Listener
	err := s.inside(func() (err error) {
		ln, err = (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
		return err
	})
	if err != nil {
		return fmt.Errorf("bridge %s into the network namespace: %w", addr, err)
	}
	s.mu.Lock()
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return // closed
			}
			go s.forward(in, addr)
		}
	}()
	return nil
}

func (s *sandbox) forward(in net.Conn, addr string) {
	out, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", addr)
	if err != nil {
		_ = in.Close()
		return
	}
	if !s.track(in, out) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if c, ok := dst.(*net.TCPConn); ok {
			_ = c.CloseWrite()
		}
	}
	go pipe(out, in)
	go pipe(in, out)
	wg.Wait()
	s.untrack(in, out)
}

// track records live connections so close can end them; it refuses (and
// closes them) once the sandbox is closed.
func (s *sandbox) track(cs ...net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	for _, c := range cs {
		s.conns[c] = struct{}{}
	}
	return true
}

func (s *sandbox) untrack(cs ...net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
		delete(s.conns, c)
	}
}

// dial connects to addr as seen from inside the sandbox (its loopback).
func (s *sandbox) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := s.inside(func() (err error) {
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// close stops the bridges and releases the namespace (it goes away with
// the last process in it, which the cluster has stopped by then).
func (s *sandbox) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, ln := range s.listeners {
		errs = append(errs, ln.Close())
	}
	for c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
	errs = append(errs, s.ns.Close())
	return errors.Join(errs...)
}
