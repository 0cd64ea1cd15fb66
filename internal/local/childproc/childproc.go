// Package childproc starts the long-running children of a daemon (the local
// environment's Prometheus and service replicas) so that they die with it.
//
// The daemon stops its children in order when asked to, but a daemon that is
// SIGKILLed (by the OOM killer, a CI runner's cleanup, kill -9) cannot: its
// children, in their own process groups, would run on as orphans — a leaked
// Prometheus once filled a disk. On Linux the kernel sends each child
// SIGKILL when its parent dies (PR_SET_PDEATHSIG); elsewhere Start is
// cmd.Start.
package childproc
