// Package freeport picks loopback ports for the processes the local
// runtime and the local engines start and tell which port to listen on.
//
// The usual way, listening on 127.0.0.1:0 and handing the port the kernel
// chose to a child process after closing the listener, leaves a window
// between the check and the child's bind. The kernel chooses that port from
// its ephemeral range (net.ipv4.ip_local_port_range), the same range it
// takes the local port of every outgoing connection from: under parallel
// test suites, which open connections by the thousand, a kube-apiserver
// started a few hundred milliseconds after its port was picked found it
// taken ("bind: address already in use"), and the cluster did not come up.
// Ports below that range are never given to an outgoing connection or to a
// listener on port 0, so a port picked there can only be taken by another
// explicit bind.
package freeport

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// low is the first port Pick considers. Below it sit the well-known and
// registered ports of services a developer machine runs (MariaDB's 3306,
// Redis's 6379, PostgreSQL's 5432, the 8080s, ...).
const low = 20000

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Pick returns a 127.0.0.1 port that nobody listens on, chosen at random
// below the kernel's ephemeral range when that range leaves room, and never
// the same one twice in this process (parallel clusters in one test binary
// cannot both pick it before either binds). When the range leaves no room
// it falls back to a port the kernel chooses.
func Pick() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	if hi := ephemeralLow(); hi-low >= 1000 {
		for range 100 {
			port := low + rand.IntN(hi-low) // #nosec G404 -- spreading ports, not a secret
			if given[port] || !free(port) {
				continue
			}
			given[port] = true
			return port, nil
		}
	}
	for {
		ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick a free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if !given[port] {
			given[port] = true
			return port, nil
		}
	}
}

// free says whether 127.0.0.1:port can be listened on now.
func free(port int) bool {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range, or 0 where
// it cannot be read (not Linux).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return n
}
