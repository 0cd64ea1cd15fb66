// Command mkrepo writes the benchmark GitOps repository: a bare repository
// with SERVICES services × 3 environments and COMMITS commits of deploy
// history, generated with git fast-import.
//
//	go run ./bench/gitops/mkrepo DIR [SERVICES [COMMITS]]
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/smp/delivery/internal/gitops/gitopstest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mkrepo DIR [SERVICES [COMMITS]]")
		os.Exit(2)
	}
	l := gitopstest.Large{Services: 200, Commits: 5000}
	for i, p := range []*int{&l.Services, &l.Commits} {
		if len(os.Args) > 2+i {
			n, err := strconv.Atoi(os.Args[2+i])
			if err != nil || n <= 0 {
				fmt.Fprintf(os.Stderr, "mkrepo: %q is not a positive number\n", os.Args[2+i])
				os.Exit(2)
			}
			*p = n
		}
	}
	if err := gitopstest.WriteLarge(os.Args[1], l); err != nil {
		fmt.Fprintln(os.Stderr, "mkrepo:", err)
		os.Exit(1)
	}
}
