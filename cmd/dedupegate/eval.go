package main

import (
	"context"
	"fmt"
	"io"
)

// runEval is not built yet; its issue replaces this stub.
func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "dedupegate: eval is not implemented yet")
	return exitFailure
}
