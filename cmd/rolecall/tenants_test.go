package main

import (
	"strings"
	"testing"
)

func TestTenantsCommands(t *testing.T) {
	startServe(t)
	created := rolecall(t, "tenants", "create", "acme", "--name", "Acme Corp").must(t, 0)
	if field(t, created.stdout, "Tenant") != "acme" || field(t, created.stdout, "Name") != "Acme Corp" ||
		!strings.HasPrefix(field(t, created.stdout, "External ID"), "rc-") || field(t, created.stdout, "External ID version") != "1" {
		t.Errorf("create table:\n%s", created.stdout)
	}
	externalID := field(t, created.stdout, "External ID")
	var globex struct {
		TenantID   string `json:"tenantId"`
		Name       string `json:"name"`
		ExternalID string `json:"externalId"`
	}
	rolecall(t, "tenants", "create", "globex", "--json").must(t, 0).json(t, &globex)
	if globex.TenantID != "globex" || globex.Name != "globex" || !strings.HasPrefix(globex.ExternalID, "rc-") {
		t.Errorf("create --json: %+v", globex)
	}

	list := rolecall(t, "tenants", "list").must(t, 0)
	rs := rows(list.stdout)
	if len(rs) != 4 || strings.Join(rs[0], "|") != "TENANT|NAME|EXTERNAL ID VERSION|MAX CONNECTIONS|CREATED|ROTATED" {
		t.Fatalf("list table:\n%s", list.stdout)
	}
	var got []string
	for _, r := range rs[1:] {
		got = append(got, r[0]+":"+r[1]+":"+r[2]+":"+r[3])
	}
	if strings.Join(got, " ") != "acme:Acme Corp:1:100 demo:Demo Customer:1:100 globex:globex:1:100" {
		t.Errorf("list rows %v", got)
	}
	if !strings.Contains(list.stderr, "3 tenants") {
		t.Errorf("list stderr %q", list.stderr)
	}
	jl := rolecall(t, "tenants", "list", "--json").must(t, 0)
	var page struct {
		Tenants []map[string]any `json:"tenants"`
	}
	jl.json(t, &page)
	if len(page.Tenants) != 3 || page.Tenants[0]["tenantId"] != "acme" {
		t.Errorf("list --json: %s", jl.stdout)
	}
	for _, out := range []string{list.stdout, jl.stdout} {
		if strings.Contains(out, externalID) || strings.Contains(out, globex.ExternalID) || strings.Contains(out, "externalId\"") {
			t.Errorf("a listing shows an external ID:\n%s", out)
		}
	}

	get := rolecall(t, "tenants", "get", "acme").must(t, 0)
	if field(t, get.stdout, "Name") != "Acme Corp" || strings.Contains(get.stdout, externalID) {
		t.Errorf("get:\n%s", get.stdout)
	}
	var one map[string]any
	rolecall(t, "tenants", "get", "acme", "--json").must(t, 0).json(t, &one)
	if one["tenantId"] != "acme" || one["externalId"] != nil {
		t.Errorf("get --json: %v", one)
	}

	updated := rolecall(t, "tenants", "update", "acme", "--max-connections", "250").must(t, 0)
	if field(t, updated.stdout, "Tenant") != "acme" || field(t, updated.stdout, "Max connections") != "250" || strings.Contains(updated.stdout, externalID) {
		t.Errorf("update:\n%s", updated.stdout)
	}
	if got := field(t, rolecall(t, "tenants", "get", "acme").must(t, 0).stdout, "Max connections"); got != "250" {
		t.Errorf("get after update: max connections %s, want 250", got)
	}
	var patched map[string]any
	rolecall(t, "tenants", "update", "acme", "--max-connections", "1", "--json").must(t, 0).json(t, &patched)
	if patched["tenantId"] != "acme" || patched["maxConnections"] != float64(1) || patched["externalId"] != nil {
		t.Errorf("update --json: %v", patched)
	}

	expectRefusals(t, []refusal{
		{"update without a limit", []string{"tenants", "update", "acme"}, 2, "--max-connections"},
		{"update to no connection", []string{"tenants", "update", "acme", "--max-connections", "0"}, 1, "INVALID_MAX_CONNECTIONS"},
		{"update above the most", []string{"tenants", "update", "acme", "--max-connections", "10001"}, 1, "INVALID_MAX_CONNECTIONS"},
		{"update an unknown tenant", []string{"tenants", "update", "nobody", "--max-connections", "5"}, 1, "NOT_FOUND"},
		{"update two tenants", []string{"tenants", "update", "a", "b", "--max-connections", "5"}, 2, ""},
		{"existing tenant", []string{"tenants", "create", "acme"}, 1, "TENANT_EXISTS"},
		{"invalid tenant ID", []string{"tenants", "create", "a b"}, 1, "INVALID_TENANT_ID"},
		{"unknown tenant", []string{"tenants", "get", "nobody"}, 1, "NOT_FOUND"},
		{"no ID", []string{"tenants", "get"}, 2, ""},
		{"two IDs", []string{"tenants", "create", "a", "b"}, 2, ""},
		{"negative max connections", []string{"tenants", "create", "x", "--max-connections", "-1"}, 2, "--max-connections"},
		{"unknown flag", []string{"tenants", "list", "--bogus"}, 2, ""},
		{"api and stack", []string{"tenants", "list", "--api", "http://127.0.0.1:1", "--stack", "rc"}, 2, "not both"},
		{"bad auth mode", []string{"tenants", "list", "--auth", "magic"}, 2, "--auth"},
		{"bad API URL", []string{"tenants", "list", "--api", "ftp://x"}, 2, "not an http(s) URL"},
		{"API URL with a query", []string{"tenants", "list", "--api", "http://127.0.0.1:8080/?stage=prod"}, 2, "no query, fragment or user"},
		{"API URL with a password", []string{"tenants", "list", "--api", "http://ops:hunter2@127.0.0.1:8080"}, 2, "ops:xxxxx@"},
		{"a misspelt subcommand", []string{"tenants", "crate", "acme"}, 2, `unknown command "crate" for "rolecall tenants"`},
		{"a misspelt subcommand with --json", []string{"connections", "lst", "--json"}, 2, `unknown command "lst"`},
		{"a misspelt invites subcommand", []string{"invites", "revok", "acme", "inv-1"}, 2, `unknown command "revok"`},
		{"a misspelt external-id subcommand", []string{"external-id", "rotat", "acme"}, 2, `unknown command "rotat"`},
	})
	t.Run("a group alone prints its help", func(t *testing.T) {
		if r := rolecall(t, "connections").must(t, 0); !strings.Contains(r.stdout, "Available Commands") {
			t.Errorf("stdout %q", r.stdout)
		}
	})
	t.Run("a refusal names the API's code and message", func(t *testing.T) {
		r := rolecall(t, "tenants", "create", "acme").must(t, 1)
		if want := "rolecall tenants create: refused (HTTP 409): TENANT_EXISTS: tenant \"acme\" exists (field tenantId)\n"; r.stderr != want {
			t.Errorf("stderr %q, want %q", r.stderr, want)
		}
	})
	t.Run("a wrong token is refused", func(t *testing.T) {
		t.Setenv("ROLECALL_OPS_TOKEN", "wrong")
		if r := rolecall(t, "tenants", "list").must(t, 1); !strings.Contains(r.stderr, "UNAUTHENTICATED") {
			t.Errorf("stderr %q", r.stderr)
		}
	})
	t.Run("no token for a loopback API is a usage error", func(t *testing.T) {
		t.Setenv("ROLECALL_OPS_TOKEN", "")
		if r := rolecall(t, "tenants", "list").must(t, 2); !strings.Contains(r.stderr, "ROLECALL_OPS_TOKEN") {
			t.Errorf("stderr %q", r.stderr)
		}
	})
}

func TestInvitesAndRotateAgainstServe(t *testing.T) {
	startServe(t)
	rolecall(t, "tenants", "create", "acme").must(t, 0)
	inv := rolecall(t, "invites", "create", "acme").must(t, 0)
	if u := field(t, inv.stdout, "URL"); !strings.Contains(u, "/connect?invite=") {
		t.Errorf("invite table:\n%s", inv.stdout)
	}
	before := rolecall(t, "tenants", "create", "bravo", "--json").must(t, 0)
	rot := rolecall(t, "external-id", "rotate", "bravo").must(t, 0)
	if field(t, rot.stdout, "External ID version") != "2" || field(t, rot.stdout, "Rotated") == "-" ||
		!strings.HasPrefix(field(t, rot.stdout, "External ID"), "rc-") || strings.Contains(before.stdout, field(t, rot.stdout, "External ID")) {
		t.Errorf("rotate:\n%s", rot.stdout)
	}
	// bravo has no connection relying on the previous ID: the API retired
	// it at once, whatever the grace asked for, and the CLI says so.
	if !strings.Contains(rot.stderr, "The previous external ID is no longer accepted.") {
		t.Errorf("rotate without connections said:\n%s", rot.stderr)
	}
	if r := rolecall(t, "external-id", "rotate", "bravo", "--grace", "500ms").must(t, 2); !strings.Contains(r.stderr, "whole number of seconds") {
		t.Errorf("sub-second grace: %q", r.stderr)
	}
	if r := rolecall(t, "external-id", "rotate", "nobody").must(t, 1); !strings.Contains(r.stderr, "NOT_FOUND") {
		t.Errorf("rotate unknown: %q", r.stderr)
	}
	if r := rolecall(t, "invites", "create", "acme", "--ttl", "-1h").must(t, 2); !strings.Contains(r.stderr, "--ttl") {
		t.Errorf("negative ttl: %q", r.stderr)
	}
}
