package testenv

import "testing"

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		want    config
		wantErr bool
	}{
		{
			name: "defaults",
			want: config{redisImage: "redis:7-alpine", natsImage: "nats:2-alpine", network: networkBridge},
		},
		{
			name: "offline CI",
			vars: map[string]string{
				"CASEBOOK_REDIS_IMAGE":  "casebook/redis:local",
				"CASEBOOK_NATS_IMAGE":   "casebook/nats:local",
				"CASEBOOK_TEST_NETWORK": "host",
				"CI":                    "true",
			},
			want: config{redisImage: "casebook/redis:local", natsImage: "casebook/nats:local", network: networkHost, ci: true},
		},
		{
			name: "CI=false is not CI",
			vars: map[string]string{"CI": "false"},
			want: config{redisImage: "redis:7-alpine", natsImage: "nats:2-alpine", network: networkBridge},
		},
		{
			name: "unparsable CI counts as CI",
			vars: map[string]string{"CI": "yes", "CASEBOOK_TEST_NETWORK": " Bridge "},
			want: config{redisImage: "redis:7-alpine", natsImage: "nats:2-alpine", network: networkBridge, ci: true},
		},
		{
			name:    "unknown network",
			vars:    map[string]string{"CASEBOOK_TEST_NETWORK": "overlay"},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := configFromEnv(func(k string) string { return tt.vars[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("configFromEnv(%v) error = %v, want error %v", tt.vars, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("configFromEnv(%v) = %+v, want %+v", tt.vars, got, tt.want)
			}
		})
	}
}
