// Command cgoonly needs cgo: smpctl build (CGO_ENABLED=0) must refuse it.
package main

// #include <stdlib.h>
import "C"

func main() { C.free(nil) }
