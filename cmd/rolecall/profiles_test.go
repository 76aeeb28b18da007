package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
