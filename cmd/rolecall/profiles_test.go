package main

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/rolecall/rolecall/access"
)

// TestMergeProfilesKeepsSymlinks: --write into a config file that is a
// symbolic link (dotfiles) updates the file the link points to and leaves
// the link a link; a regular file or a missing one is written in place.
// The other sections stay, the old content is backed up and no temporary
// file is left behind.
func TestMergeProfilesKeepsSymlinks(t *testing.T) {
	const before = "[default]\nregion = eu-west-1\n"
	section := profileSection{name: "rolecall-acme-111111111111", lines: []string{"credential_process = rolecall credentials"}}
	tests := []struct {
		name string
		// setup lays out dir and returns the path passed to --write, the
		// file that must end up holding the profiles, and the links that
		// must be unchanged (link -> its readlink).
		setup func(t *testing.T, dir string) (path, file string, links map[string]string)
		// existed: the file held before, so a backup is expected.
		existed bool
	}{
		{name: "regular file", existed: true, setup: func(t *testing.T, dir string) (string, string, map[string]string) {
			p := filepath.Join(dir, ".aws", "config")
			writeTestFile(t, p, before)
			return p, p, nil
		}},
		{name: "no file yet", setup: func(t *testing.T, dir string) (string, string, map[string]string) {
			p := filepath.Join(dir, ".aws", "config")
			return p, p, nil
		}},
		{name: "relative link", existed: true, setup: func(t *testing.T, dir string) (string, string, map[string]string) {
			file := filepath.Join(dir, "dotfiles", "aws-config")
			writeTestFile(t, file, before)
			link := filepath.Join(dir, ".aws", "config")
			makeSymlink(t, "../dotfiles/aws-config", link)
			return link, file, map[string]string{link: "../dotfiles/aws-config"}
		}},
		{name: "absolute link", existed: true, setup: func(t *testing.T, dir string) (string, string, map[string]string) {
			file := filepath.Join(dir, "dotfiles", "aws-config")
			writeTestFile(t, file, before)
			link := filepath.Join(dir, ".aws", "config")
			makeSymlink(t, file, link)
			return link, file, map[string]string{link: file}
		}},
		{name: "link to a link", existed: true, setup: func(t *testing.T, dir string) (string, string, map[string]string) {
			file := filepath.Join(dir, "store", "config")
			writeTestFile(t, file, before)
			mid := filepath.Join(dir, "dotfiles", "aws-config")
			makeSymlink(t, "../store/config", mid)
			link := filepath.Join(dir, ".aws", "config")
			makeSymlink(t, mid, link)
			return link, file, map[string]string{link: mid, mid: "../store/config"}
		}},
		{name: "link to a file not made yet", setup: func(t *testing.T, dir string) (string, string, map[string]string) {
			file := filepath.Join(dir, "dotfiles", "aws-config")
			link := filepath.Join(dir, ".aws", "config")
			makeSymlink(t, "../dotfiles/aws-config", link)
			return link, file, map[string]string{link: "../dotfiles/aws-config"}
		}},
		{name: "linked directory", existed: true, setup: func(t *testing.T, dir string) (string, string, map[string]string) {
			file := filepath.Join(dir, "dotfiles", "aws", "config")
			writeTestFile(t, file, before)
			link := filepath.Join(dir, ".aws")
			makeSymlink(t, "dotfiles/aws", link)
			return filepath.Join(link, "config"), file, map[string]string{link: "dotfiles/aws"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path, file, links := tt.setup(t, dir)
			if err := mergeProfiles(path, []profileSection{section}); err != nil {
				t.Fatal(err)
			}
			for link, dest := range links {
				fi, err := os.Lstat(link)
				if err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Fatalf("%s is no longer a symbolic link (%v, %v)", link, fi.Mode(), err)
				}
				if got, _ := os.Readlink(link); got != dest {
					t.Errorf("%s points to %s, want %s", link, got, dest)
				}
			}
			fi, err := os.Lstat(file)
			if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v, %v; want a regular file of mode 0600", file, fi, err)
			}
			got, _ := os.ReadFile(file)
			if !strings.Contains(string(got), section.text()) {
				t.Errorf("%s lacks the profile:\n%s", file, got)
			}
			if tt.existed && !strings.HasPrefix(string(got), before) {
				t.Errorf("%s lost its other sections:\n%s", file, got)
			}
			bak, err := os.ReadFile(path + ".bak")
			switch {
			case tt.existed && (err != nil || string(bak) != before):
				t.Errorf("backup %s: %q, %v; want the old content", path+".bak", bak, err)
			case !tt.existed && err == nil:
				t.Errorf("a backup %s of a file that did not exist", path+".bak")
			}
			err = filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
				if err == nil && strings.Contains(filepath.Base(p), ".tmp-") {
					t.Errorf("temporary file left: %s", p)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func makeSymlink(t *testing.T, dest, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dest, link); err != nil {
		t.Fatal(err)
	}
}

// A config path that is a loop of links is refused, and nothing is
// written.
func TestMergeProfilesRefusesALinkLoop(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	makeSymlink(t, b, a)
	makeSymlink(t, a, b)
	err := mergeProfiles(a, []profileSection{{name: "rolecall-acme-111111111111", lines: []string{"credential_process = rolecall credentials"}}})
	if err == nil || !strings.Contains(err.Error(), "resolve "+a) {
		t.Fatalf("mergeProfiles through a loop = %v, want it refused", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("files after the refusal: %v, want the two links only", entries)
	}
}

// credentialProcessCases are settings whose credential_process needs
// quoting; each must read back, in every client, as the words written.
var credentialProcessCases = []profilesOptions{
	{command: "/usr/bin/rolecall", verifiedOptions: verifiedOptions{apiOptions: apiOptions{api: "http://127.0.0.1:8080"}}},
	{command: "/Users/Jane Doe/bin/rolecall", verifiedOptions: verifiedOptions{apiOptions: apiOptions{api: "http://[::1]:8080"}}},
	{command: "/opt/it's/rolecall", verifiedOptions: verifiedOptions{apiOptions: apiOptions{api: "https://x.example/prod?a=b", baseProfile: "my base"}}},
	{command: `C:\Users\dev\bin\rolecall.exe`, verifiedOptions: verifiedOptions{apiOptions: apiOptions{api: "https://abc123.execute-api.eu-west-1.amazonaws.com"}}},
	{command: `C:\Program Files\RoleCall\rolecall.exe`, verifiedOptions: verifiedOptions{apiOptions: apiOptions{api: "http://127.0.0.1:8080", baseProfile: "my base"}}},
	{command: "/opt/$HOME/`id`/rolecall", verifiedOptions: verifiedOptions{apiOptions: apiOptions{api: "http://127.0.0.1:8080", baseProfile: `trailing\`}}},
}

// windowsCommand reports whether o's command is a Windows path, which
// Windows readers of credential_process must take as one word too.
func windowsCommand(o profilesOptions) bool { return strings.HasPrefix(o.command[1:], `:\`) }

// credentialProcessWords is what o.section writes for ref, as words.
func credentialProcessWords(o profilesOptions, ref access.Ref) []string {
	w := []string{o.command, "credentials", "--tenant", ref.TenantID, "--api", o.api}
	if o.baseProfile != "" {
		w = append(w, "--base-profile", o.baseProfile)
	}
	return append(w, "--account", ref.AccountID)
}

// loadProfile is the profile as the Go SDK reads it from the config file
// at path alone.
func loadProfile(t *testing.T, path, profile string) (config.SharedConfig, error) {
	return config.LoadSharedConfigProfile(context.Background(), profile, func(lo *config.LoadSharedConfigOptions) {
		lo.ConfigFiles = []string{path}
		lo.CredentialsFiles = []string{filepath.Join(t.TempDir(), "none")}
	})
}

// TestCredentialProcessReadsBackAsWritten: the Go SDK reads each profile's
// credential_process as written, and sh -c (how it runs it) splits it
// into the intended words; a Windows executable's path is double-quoted,
// never single-quoted (cmd.exe knows no single quotes).
func TestCredentialProcessReadsBackAsWritten(t *testing.T) {
	ref := access.Ref{TenantID: "acme", AccountID: "111122223333"}
	for _, o := range credentialProcessCases {
		t.Run(o.command, func(t *testing.T) {
			s := o.section(regionalConnection{Connection: access.Connection{TenantID: ref.TenantID, AccountID: ref.AccountID}})
			if want := `credential_process = "` + o.command + `" credentials `; windowsCommand(o) && !strings.HasPrefix(s.lines[0], want) {
				t.Errorf("%s\nwant it to start %s", s.lines[0], want)
			}
			path := filepath.Join(t.TempDir(), "config")
			writeTestFile(t, path, s.text())
			sc, err := loadProfile(t, path, s.name)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimPrefix(s.lines[0], "credential_process = "); sc.CredentialProcess != want {
				t.Errorf("the Go SDK reads credential_process\n  %s\nwritten\n  %s", sc.CredentialProcess, want)
			}
			out, err := exec.Command("sh", "-c", `set -- `+sc.CredentialProcess+`; printf '%s\000' "$@"`).Output()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"), credentialProcessWords(o, ref); !slices.Equal(got, want) {
				t.Errorf("sh runs %q, want %q", got, want)
			}
		})
	}
}

// TestMergeKeepsWhatTheGoSDKReads: after --write, the Go SDK still reads
// the user's profiles, also one whose header carries a comment.
func TestMergeKeepsWhatTheGoSDKReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeTestFile(t, path, "[profile rolecall-acme-111122223333]\ncredential_process = /old/rolecall\n\n"+
		"[profile prod] # production, do not touch\nregion = eu-west-1\nrole_arn = arn:aws:iam::123456789012:role/admin\ncredential_source = Environment\n")
	if err := mergeProfiles(path, []profileSection{{name: "rolecall-acme-111122223333", lines: []string{"credential_process = /new/rolecall"}}}); err != nil {
		t.Fatal(err)
	}
	load := func(profile string) config.SharedConfig {
		sc, err := loadProfile(t, path, profile)
		if err != nil {
			t.Errorf("profile %s: %v", profile, err)
		}
		return sc
	}
	if sc := load("prod"); sc.RoleARN != "arn:aws:iam::123456789012:role/admin" || sc.Region != "eu-west-1" {
		t.Errorf("profile prod after the merge: %+v", sc)
	}
	if sc := load("rolecall-acme-111122223333"); sc.CredentialProcess != "/new/rolecall" {
		t.Errorf("rolecall profile after the merge: %q", sc.CredentialProcess)
	}
}

// TestProfilesRefuseValuesAConfigCannotHold: a setting the SDKs would cut
// (a line break, a comment) is refused before anything is asked or
// written.
func TestProfilesRefuseValuesAConfigCannotHold(t *testing.T) {
	w := newWorkloadWorld(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a comment in the command", []string{"--command", "/opt/rolecall #1/rolecall"}, `--command: the AWS SDKs read "#" in a config value as the start of a comment`},
		{"a semicolon comment in the base profile", []string{"--base-profile", "base ;x"}, `--base-profile: the AWS SDKs read ";"`},
		{"a line break in the region", []string{"--region", "eu-west-1\n[profile x]"}, "--region: an AWS config file cannot hold a line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(w.dir, "never-written")
			args := append([]string{"profiles", "--write", path, "--command", "/usr/bin/rolecall"}, tt.args...)
			out, errOut, code := run(t, args...)
			if code != 2 || out != "" || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 saying %q", code, out, errOut, tt.want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("the file was written: %v", err)
			}
		})
	}
}

// TestMergeProfilesBackupIsPrivate: a backup left by an earlier --write
// with a wider mode is replaced with mode 0600, as the config is written.
func TestMergeProfilesBackupIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeTestFile(t, path, "[default]\nregion = eu-west-1\n")
	if err := os.WriteFile(path+".bak", []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path+".bak", 0o644); err != nil {
		t.Fatal(err)
	}
	if err := mergeProfiles(path, []profileSection{{name: "rolecall-acme-111122223333", lines: []string{"credential_process = /r"}}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + ".bak"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}

// TestWorkloadListingsListEachTenantOnce: profiles and terraform read
// each tenant's VERIFIED connections with one listing (one request for
// a page): --tenant T lists T alone, and no --tenant lists every
// VERIFIED connection once to name the tenants, then each tenant once.
func TestWorkloadListingsListEachTenantOnce(t *testing.T) {
	w := newWorkloadWorld(t)
	tenantOnly := map[string]int{"GET /v1/tenants/acme/access": 1}
	every := map[string]int{"GET /v1/connections": 1, "GET /v1/tenants/acme/access": 1, "GET /v1/tenants/globex/access": 1}
	tests := []struct {
		args []string
		want map[string]int
	}{
		{[]string{"profiles", "--tenant", "acme"}, tenantOnly},
		{[]string{"terraform", "--tenant", "acme"}, tenantOnly},
		{[]string{"profiles"}, every},
		{[]string{"terraform"}, every},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			w.requests.take()
			args := append([]string{}, tt.args...)
			if args[0] == "profiles" {
				args = append(args, "--command", "/opt/rolecall/bin/rolecall")
			}
			out, errOut, code := run(t, args...)
			if code != 0 || !strings.Contains(out, "acme") {
				t.Fatalf("exit %d: %s\n%s", code, errOut, out)
			}
			if got := w.requests.take(); !maps.Equal(got, tt.want) {
				t.Errorf("requests %v, want %v", got, tt.want)
			}
		})
	}
}
