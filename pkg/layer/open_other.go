//go:build !unix

package layer

import (
	"io"
	"os"
)

func openSource(name string) (io.ReadCloser, error) { return os.Open(name) }
