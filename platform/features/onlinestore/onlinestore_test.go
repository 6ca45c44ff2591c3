package onlinestore

import (
	"errors"
	"testing"

	"github.com/casebook-ml/casebook/platform/features"
	"github.com/casebook-ml/casebook/platform/features/memory"
)

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		spec string
		ok   bool
	}{
		{"memory", true},
		{"redis://127.0.0.1:6379", true},
		{"redis://cache:6379", true},
		{"", false},
		{"Memory", false},
		{"redis://", false},
		{"redis://host:6379/0", false},
		{"127.0.0.1:6379", false},
		{"rediss://host:6379", false},
	} {
		if err := Check(tt.spec); (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrSpec)) {
			t.Errorf("Check(%q) = %v, want ok %v (or ErrSpec)", tt.spec, err, tt.ok)
		}
	}
}

func TestOpen(t *testing.T) {
	reg := features.NewRegistry()
	s, err := Open(Memory, reg, nil)
	if err != nil {
		t.Fatalf("Open(memory) error %v", err)
	}
	defer s.Close()
	if _, ok := s.(*memory.Store); !ok {
		t.Errorf("Open(memory) = %T, want *memory.Store", s)
	}
	if _, err := Open("redis://", reg, nil); !errors.Is(err, ErrSpec) {
		t.Errorf("Open(redis://) error %v, want ErrSpec", err)
	}
}
