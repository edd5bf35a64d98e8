package index_test

import (
	"testing"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/indextest"
)

func TestMemoryConformance(t *testing.T) {
	indextest.Run(t, func(t *testing.T) indextest.Index { return index.NewMemory() })
}
