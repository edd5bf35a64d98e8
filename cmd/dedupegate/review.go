package main

import (
	"context"
	"fmt"
	"io"
)

// runReview is not built yet; its issue replaces this stub.
func runReview(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "dedupegate: review is not implemented yet")
	return exitFailure
}
