// Command gentemplate writes internal/newservice/template.tar.gz from
// examples/order-svc; `go generate ./internal/newservice` runs it.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/smp/delivery/internal/newservice"
)

func main() {
	// go generate runs in the package directory: the repository is two up.
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err == nil {
		var b []byte
		if b, err = newservice.Archive(root); err == nil {
			err = os.WriteFile("template.tar.gz", b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gentemplate:", err)
		os.Exit(1)
	}
}
