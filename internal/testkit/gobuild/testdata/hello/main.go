// Command hello prints the greeting linked in with -X main.greeting.
package main

import "fmt"

var greeting = "unset"

func main() { fmt.Println(greeting) }
