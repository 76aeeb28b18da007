package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// readme is the repository's README.md, which partner engineers and
// operators go by.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section is the text of README from the line starting with start up to
// the next line starting with end.
func section(t *testing.T, doc, start, end string) string {
	t.Helper()
	i := strings.Index(doc, start)
	if i < 0 {
		t.Fatalf("README has no %q", start)
	}
	rest := doc[i+len(start):]
	j := strings.Index(rest, end)
	if j < 0 {
		t.Fatalf("README has no %q after %q", end, start)
	}
	return rest[:j]
}

// tableRows are the cells of the Markdown table rows of text (its header
// and separator rows left out).
func tableRows(text string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| Flag") || strings.HasPrefix(line, "| Command") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	return rows
}

var (
	backticked = regexp.MustCompile("`([^`]*)`")
	longFlag   = regexp.MustCompile(`--[a-z-]+`)
)

// TestReadmeServeFlags holds README's table of `rolecall serve` flags to
// the command: every flag is in it, no other, and a default given as a
// plain value is the flag's.
func TestReadmeServeFlags(t *testing.T) {
	rows := tableRows(section(t, readme(t), "## Running it", "- `rolecall verify "))
	cmd := newServeCmd()
	documented := map[string]bool{}
	for _, r := range rows {
		if len(r) < 3 {
			t.Errorf("README serve flag row %q: want Flag | Default | What it does", r)
			continue
		}
		name := strings.Fields(strings.Trim(r[0], "`"))[0]
		documented[name] = true
		f := cmd.Flags().Lookup(strings.TrimPrefix(name, "--"))
		if f == nil {
			t.Errorf("README documents serve flag %s, which serve does not have", name)
			continue
		}
		def := r[1]
		switch {
		case def == "off":
			if f.DefValue != "false" {
				t.Errorf("README: %s defaults to off, serve's default is %q", name, f.DefValue)
			}
		case def == "—":
			if f.DefValue != "" && f.DefValue != "false" {
				t.Errorf("README: %s has no default, serve's is %q", name, f.DefValue)
			}
		case strings.Count(def, "`") == 2 && strings.HasPrefix(def, "`") && strings.HasSuffix(def, "`") && !strings.HasPrefix(def, "`$"):
			// A plain value (an environment variable's is read at start).
			want := strings.Trim(def, "`")
			if !sameDefault(f, want) {
				t.Errorf("README: %s defaults to %q, serve's default is %q", name, want, f.DefValue)
			}
		}
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && !f.Hidden && !documented["--"+f.Name] {
			t.Errorf("serve flag --%s is not in README's table", f.Name)
		}
	})
}

// sameDefault reports whether a flag's default is the one README writes
// (durations as 1m, 1h, 0).
func sameDefault(f *pflag.Flag, want string) bool {
	if f.Value.Type() == "duration" {
		d, err1 := time.ParseDuration(f.DefValue)
		w, err2 := time.ParseDuration(want)
		if want == "0" {
			w, err2 = 0, nil
		}
		return err1 == nil && err2 == nil && d == w
	}
	return f.DefValue == want
}

// TestReadmeOpsCommands holds README's table of the ops commands to the
// CLI: each command exists, and takes every flag its row names.
func TestReadmeOpsCommands(t *testing.T) {
	rows := tableRows(section(t, readme(t), "| Command | What it does |", "```sh"))
	if len(rows) < 10 {
		t.Fatalf("README's ops command table has %d rows", len(rows))
	}
	root := newRoot()
	for _, r := range rows {
		for _, use := range backticked.FindAllStringSubmatch(r[0], -1) {
			words := strings.Fields(use[1])
			if len(words) == 0 || words[0] != "rolecall" {
				t.Errorf("README ops command %q does not start with rolecall", use[1])
				continue
			}
			cmd, rest, err := root.Find(commandWords(use[1]))
			if err != nil || len(rest) > 0 || cmd == root {
				t.Errorf("README ops command %q: no such command (%v)", use[1], err)
				continue
			}
			for _, flag := range longFlag.FindAllString(use[1], -1) {
				if lookupFlag(cmd, strings.TrimPrefix(flag, "--")) == nil {
					t.Errorf("README: %q, but %s has no flag %s", use[1], cmd.CommandPath(), flag)
				}
			}
		}
		// The flags the description names are the command's too.
		for _, m := range backticked.FindAllStringSubmatch(r[1], -1) {
			if !strings.HasPrefix(m[1], "--") {
				continue
			}
			use := backticked.FindStringSubmatch(r[0])[1]
			cmd, _, err := root.Find(commandWords(use))
			if err != nil {
				continue // reported above
			}
			name := strings.TrimPrefix(strings.Fields(m[1])[0], "--")
			if lookupFlag(cmd, name) == nil {
				t.Errorf("README's row of %q names --%s, which %s does not take", use, name, cmd.CommandPath())
			}
		}
	}
}

// commandWords are the subcommand words of a README usage line.
func commandWords(use string) []string {
	var path []string
	for _, w := range strings.Fields(use)[1:] {
		if w != strings.ToLower(w) || strings.HasPrefix(w, "-") || strings.HasPrefix(w, "[") {
			break
		}
		path = append(path, w)
	}
	return path
}

func lookupFlag(cmd *cobra.Command, name string) *pflag.Flag {
	for c := cmd; c != nil; c = c.Parent() {
		if f := c.Flags().Lookup(name); f != nil {
			return f
		}
		if f := c.PersistentFlags().Lookup(name); f != nil {
			return f
		}
	}
	return nil
}

// TestReadmeCommandLines holds every command line README shows (in code
// spans and code blocks) to the CLI: the command exists and takes each
// flag the line gives it.
func TestReadmeCommandLines(t *testing.T) {
	root := newRoot()
	var spans []string
	fenced := false
	for _, line := range strings.Split(readme(t), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			line, _, _ = strings.Cut(line, "#") // a shell comment
			spans = append(spans, line)
			continue
		}
		for _, m := range backticked.FindAllStringSubmatch(line, -1) {
			spans = append(spans, m[1])
		}
	}
	checked := 0
	for _, span := range spans {
		for _, at := range commandLine.FindAllStringIndex(span, -1) {
			use := span[at[0]:]
			use, _, _ = strings.Cut(use, "&&")
			use, _, _ = strings.Cut(use, "|")
			cmd, rest, err := root.Find(commandWords(use))
			if err != nil || cmd == root || (cmd.HasSubCommands() && len(rest) > 0) {
				// A group's command words left over name no subcommand.
				t.Errorf("README shows %q: no such command (%v)", use, err)
				continue
			}
			checked++
			for _, flag := range longFlag.FindAllString(use, -1) {
				if lookupFlag(cmd, strings.TrimPrefix(flag, "--")) == nil {
					t.Errorf("README shows %q, but %s has no flag %s", use, cmd.CommandPath(), flag)
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked %d command lines of README", checked)
	}
}

// commandLine is where a rolecall command line starts: the command's name
// as a word, followed by a subcommand.
var commandLine = regexp.MustCompile(`(^|[\s=(])rolecall [a-z]`)
