//go:build !linux

package engines

import (
	"context"
	"errors"
	"net"
	"os/exec"
)

var errNoNetns = errors.New("network namespaces need Linux")

type sandbox struct{}

func newSandbox() (*sandbox, error)      { return nil, errNoNetns }
func (s *sandbox) start(*exec.Cmd) error { return errNoNetns }
func (s *sandbox) bridge(int) error      { return errNoNetns }
func (s *sandbox) close() error          { return nil }
func (s *sandbox) dial(context.Context, string, string) (net.Conn, error) {
	return nil, errNoNetns
}
