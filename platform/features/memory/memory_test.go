package memory_test

import (
	"testing"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/featurestest"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

func TestConformance(t *testing.T) {
	featurestest.RunConformance(t, func(t *testing.T, reg *features.Registry) features.OnlineStore {
		return memory.New(reg)
	})
}
