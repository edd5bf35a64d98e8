package main

import (
	"context"
	"fmt"
	"io"
)

// runSync is not built yet; its issue replaces this stub.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "dedupegate: sync is not implemented yet")
	return exitFailure
}
