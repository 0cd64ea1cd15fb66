package freeport

import (
	"context"
	"net"
	"strconv"
	"testing"
)

// A picked port is below the ephemeral range (where the kernel never puts
// an outgoing connection), can be listened on, and is not picked again.
func TestPickedPortsAreFreeDistinctAndBelowTheEphemeralRange(t *testing.T) {
	hi := ephemeralLow()
	seen := map[int]bool{}
	for range 50 {
		port, err := Pick()
		if err != nil {
			t.Fatal(err)
		}
		if seen[port] {
			t.Fatalf("port %d picked twice", port)
		}
		seen[port] = true
		if hi-low >= 1000 && (port < low || port >= hi) {
			t.Fatalf("port %d outside [%d, %d): the kernel's ephemeral range starts at %d", port, low, hi, hi)
		}
		ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("picked port %d cannot be listened on: %v", port, err)
		}
		_ = ln.Close()
	}
}

// A port something listens on is never picked.
func TestAPortInUseIsNotPicked(t *testing.T) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	if free(busy) {
		t.Fatalf("free(%d) with a listener on it", busy)
	}
	for range 200 {
		port, err := Pick()
		if err != nil {
			t.Fatal(err)
		}
		if port == busy {
			t.Fatalf("picked %d, on which a listener is open", port)
		}
	}
}
