// Package filelock serialises processes over a file: the GitOps cache's
// mirror (two CI jobs deploying at once) and the executables tests build
// into a cache shared by every test binary of a run (internal/testkit/gobuild).
// The lock is flock(2): the kernel releases it when the process dies, so a
// crash leaves no stale lock. Elsewhere than unix it does not lock.
package filelock
