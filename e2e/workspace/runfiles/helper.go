// Command helper is run by runner from its runfiles: it only starts if the
// layer kept it executable.
package main

import "fmt"

func main() { fmt.Println("helper ran") }
