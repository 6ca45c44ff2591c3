package serving

import "testing"

func TestKeyringLookup(t *testing.T) {
	k := NewKeyring([]APIKey{{Key: "reader-key-0123", Tenant: "team"}, {Key: "admin-key-4567", Tenant: "ops", Admin: true}})
	tests := []struct {
		key    string
		tenant string
		admin  bool
		ok     bool
	}{
		{"reader-key-0123", "team", false, true},
		{"admin-key-4567", "ops", true, true},
		{"", "", false, false},
		{"admin-key-456", "", false, false},
	}
	for _, tt := range tests {
		tenant, admin, ok := k.Lookup(tt.key)
		if tenant != tt.tenant || admin != tt.admin || ok != tt.ok {
			t.Errorf("Lookup(%q) = %q, %v, %v, want %q, %v, %v", tt.key, tenant, admin, ok, tt.tenant, tt.admin, tt.ok)
		}
	}
	if k.Len() != 2 {
		t.Errorf("Len() = %d, want 2", k.Len())
	}
}
