package proctest

import (
	"os"
	"strconv"
	"strings"
)

// Alive reports whether process pid runs (Linux /proc): it exists and is
// not a zombie waiting for whoever adopted it to reap it — in a container
// whose init does not reap, a killed orphan stays a zombie for good.
func Alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) STATE ...: comm may hold spaces and parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}
