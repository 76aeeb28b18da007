package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		read    func(e *Env) any
		want    any
		wantErr string
	}{
		{"required set", map[string]string{"TABLE_NAME": "t"}, func(e *Env) any { return e.String("TABLE_NAME") }, "t", ""},
		{"required missing", nil, func(e *Env) any { return e.String("TABLE_NAME") }, "", "TABLE_NAME is not set"},
		{"required empty", map[string]string{"TABLE_NAME": ""}, func(e *Env) any { return e.String("TABLE_NAME") }, "", "TABLE_NAME is not set"},
		{"optional default", nil, func(e *Env) any { return e.StringOr("EVENT_SOURCE", "rolecall") }, "rolecall", ""},
		{"optional set", map[string]string{"EVENT_SOURCE": "acme"}, func(e *Env) any { return e.StringOr("EVENT_SOURCE", "rolecall") }, "acme", ""},
		{"duration", map[string]string{"D": "90s"}, func(e *Env) any { return e.DurationOr("D", time.Hour) }, 90 * time.Second, ""},
		{"duration default", nil, func(e *Env) any { return e.DurationOr("D", time.Hour) }, time.Hour, ""},
		{"duration invalid", map[string]string{"D": "soon"}, func(e *Env) any { return e.DurationOr("D", time.Hour) }, time.Hour, `D="soon" is not a positive duration`},
		{"duration negative", map[string]string{"D": "-1s"}, func(e *Env) any { return e.DurationOr("D", time.Hour) }, time.Hour, "not a positive duration"},
		{"int", map[string]string{"N": "7"}, func(e *Env) any { return e.IntOr("N", 1) }, 7, ""},
		{"int invalid", map[string]string{"N": "seven"}, func(e *Env) any { return e.IntOr("N", 1) }, 1, `N="seven" is not a positive integer`},
		{"int zero", map[string]string{"N": "0"}, func(e *Env) any { return e.IntOr("N", 1) }, 1, "not a positive integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(lookup(tt.env))
			if got := tt.read(e); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			err := e.Err()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Err() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Err() = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestEnvCollectsEveryProblem(t *testing.T) {
	e := New(lookup(map[string]string{"N": "x"}))
	e.String("TABLE_NAME")
	e.String("VERIFY_QUEUE_URL")
	e.IntOr("N", 1)
	err := e.Err()
	for _, want := range []string{"TABLE_NAME", "VERIFY_QUEUE_URL", `N="x"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Err() = %v, want it to mention %s", err, want)
		}
	}
}

func TestFailJoinsTheOtherProblems(t *testing.T) {
	env := New(func(string) (string, bool) { return "", false })
	env.Fail(nil)
	if env.Err() != nil {
		t.Fatalf("Fail(nil) recorded a problem: %v", env.Err())
	}
	bad := errors.New(`"nowhere!" is not a Region name`)
	_ = env.String("TABLE_NAME")
	env.Fail(bad)
	err := env.Err()
	if !errors.Is(err, bad) || !strings.Contains(err.Error(), "TABLE_NAME is not set") {
		t.Errorf("Err() = %v, want both problems", err)
	}
}

func TestRanges(t *testing.T) {
	tests := []struct {
		name, value string
		read        func(*Env) any
		want        any
		refused     bool
	}{
		{"int at the low end", "1", func(e *Env) any { return e.IntIn("N", 7, 1, 365) }, 1, false},
		{"int at the high end", "365", func(e *Env) any { return e.IntIn("N", 7, 1, 365) }, 365, false},
		{"int above", "366", func(e *Env) any { return e.IntIn("N", 7, 1, 365) }, 7, true},
		{"int below", "1", func(e *Env) any { return e.IntIn("N", 7, 2, 365) }, 7, true},
		{"int unset", "", func(e *Env) any { return e.IntIn("N", 7, 1, 365) }, 7, false},
		{"duration inside", "1h", func(e *Env) any { return e.DurationIn("N", time.Hour, 5*time.Minute, 24*time.Hour) }, time.Hour, false},
		{"duration below", "1ns", func(e *Env) any { return e.DurationIn("N", time.Hour, 5*time.Minute, 24*time.Hour) }, time.Hour, true},
		{"duration above", "25h", func(e *Env) any { return e.DurationIn("N", time.Hour, 5*time.Minute, 24*time.Hour) }, time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := New(func(string) (string, bool) { return tt.value, tt.value != "" })
			if got := tt.read(env); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if refused := env.Err() != nil; refused != tt.refused || refused && !strings.Contains(env.Err().Error(), "out of range") {
				t.Errorf("Err = %v, want refused %v", env.Err(), tt.refused)
			}
		})
	}
}

// TestAWS: a function's start loads the AWS configuration only once every
// setting read so far is sound, and a configuration the SDK cannot load
// (a profile that names nothing) is an error that says so.
func TestAWS(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "config")
	if err := os.WriteFile(shared, []byte("[profile partner]\nregion = eu-west-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", shared)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	tests := []struct {
		name       string
		profile    string
		env        map[string]string
		wantRegion string
		wantErr    string
	}{
		{"loads the profile", "partner", map[string]string{"TABLE_NAME": "t"}, "eu-west-1", ""},
		{"a setting's problem comes first", "partner", nil, "", "TABLE_NAME is not set"},
		{"a profile that names nothing", "nowhere", map[string]string{"TABLE_NAME": "t"}, "", "load AWS configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_PROFILE", tt.profile)
			e := New(lookup(tt.env))
			_ = e.String("TABLE_NAME")
			cfg, err := e.AWS(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("AWS() = %v, want an error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("AWS(): %v", err)
			}
			if cfg.Region != tt.wantRegion {
				t.Errorf("Region = %q, want %q", cfg.Region, tt.wantRegion)
			}
		})
	}
}
