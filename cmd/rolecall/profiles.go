package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"

	"github.com/rolecall/rolecall/access"
)

// profilePrefix starts the name of every profile `rolecall profiles`
// writes: rolecall-<tenant>-<account>.
const profilePrefix = "rolecall-"

// ProfileName is the AWS profile of one connection.
func profileName(tenantID, accountID string) string {
	return profilePrefix + tenantID + "-" + accountID
}

type profilesOptions struct {
	verifiedOptions
	write   string
	command string
}

func newProfilesCmd() *cobra.Command {
	var o profilesOptions
	cmd := &cobra.Command{
		Use:   "profiles [--tenant T] [--write FILE] [--api URL]",
		Short: "Print (or merge into an AWS config file) one profile per VERIFIED connection",
		Long: `profiles prints one AWS config profile per VERIFIED connection (of one tenant, or of
all), named rolecall-<tenant>-<account>, whose credential_process is
'rolecall credentials' for that connection: the AWS CLI, boto3, the Go and JavaScript
SDKs and Terraform's profile = then work unchanged.

With --write FILE the profiles are merged into FILE (e.g. ~/.aws/config): every other
profile and line is kept as it is, a rolecall profile of the same name is replaced, and
the previous file is kept as FILE.bak. A FILE that is a symbolic link stays one: the
file it points to is updated. The ops token is never written: the processes
that use the profiles need ROLECALL_OPS_TOKEN (serve) or AWS credentials (SigV4).`,
		Example: `  rolecall profiles --tenant acme --api https://abc123.execute-api.eu-west-1.amazonaws.com
  rolecall profiles --write ~/.aws/config && aws s3 ls --profile rolecall-acme-111111111111`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, v := range [][2]string{{"--command", o.command}, {"--api", o.api}, {"--base-profile", o.baseProfile}, {"--region", o.region}} {
				if err := checkValue(v[0], v[1]); err != nil {
					return usageExit(cmd, err)
				}
			}
			return o.run("profiles", func(ctx context.Context, cmd *cobra.Command, cfg aws.Config, api *access.API) error {
				return writeProfiles(ctx, cmd, cfg, api, o)
			})(cmd, args)
		},
	}
	o.flags(cmd, "region = of each profile (default: the base configuration's region, else the default Region of the connection's partition: us-east-1 in aws, cn-north-1 in aws-cn, ...)")
	f := cmd.Flags()
	f.StringVar(&o.write, "write", "", "merge the profiles into this AWS config file (a backup is kept as FILE.bak)")
	f.StringVar(&o.command, "command", "", "the rolecall command the profiles run (default: this executable's absolute path)")
	return cmd
}

// verifiedConnections lists the VERIFIED connections of one tenant, or
// of all, sorted by tenant and account, each once. A tenant's listing
// carries what the commands write (role, access role, partition, external
// ID), so one tenant is listed once; every tenant takes one listing of all
// VERIFIED connections, which names only the connections and so the
// tenants, then one listing per tenant named.
func verifiedConnections(ctx context.Context, api *access.API, tenantID string) ([]access.Connection, error) {
	tenants := []string{tenantID}
	if tenantID == "" {
		refs, err := api.Verified(ctx)
		if err != nil {
			return nil, err
		}
		tenants = tenants[:0]
		for _, r := range refs {
			tenants = append(tenants, r.TenantID)
		}
		slices.Sort(tenants)
		tenants = slices.Compact(tenants)
	}
	var out []access.Connection
	for _, t := range tenants {
		conns, err := api.AllConnections(ctx, t)
		if err != nil {
			return nil, err
		}
		out = append(out, conns...)
	}
	key := func(c access.Connection) string { return c.TenantID + "\x00" + c.AccountID }
	slices.SortStableFunc(out, func(a, b access.Connection) int { return strings.Compare(key(a), key(b)) })
	// A connection listed twice (a listing walked while it changed) is
	// written once: two profiles or providers of one name would clash.
	return slices.CompactFunc(out, func(a, b access.Connection) bool { return key(a) == key(b) }), nil
}

func writeProfiles(ctx context.Context, cmd *cobra.Command, cfg aws.Config, api *access.API, o profilesOptions) error {
	if o.command == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this executable: %w", err)
		}
		if err := checkValue("this executable's path (pass --command)", exe); err != nil {
			return err
		}
		o.command = exe
	}
	if err := checkValue("the base configuration's region (pass --region)", cfg.Region); err != nil {
		return err
	}
	conns, err := o.verified(ctx, cfg, api)
	if err != nil {
		return err
	}
	if len(conns) == 0 {
		fmt.Fprintln(cmd.ErrOrStderr(), "rolecall profiles: no VERIFIED connection; nothing to write")
		return nil
	}
	sections := make([]profileSection, 0, len(conns))
	for _, c := range conns {
		sections = append(sections, o.section(c))
	}
	if o.write == "" {
		for i, s := range sections {
			if i > 0 {
				fmt.Fprintln(cmd.OutOrStdout())
			}
			fmt.Fprint(cmd.OutOrStdout(), s.text())
		}
		return nil
	}
	if err := mergeProfiles(o.write, sections); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d rolecall profiles to %s\n", len(sections), o.write)
	return nil
}

// profileSection is one [profile …] section.
type profileSection struct {
	name  string // the profile's name
	lines []string
}

func (s profileSection) header() string { return "profile " + s.name }

func (s profileSection) text() string {
	return "[" + s.header() + "]\n" + strings.Join(s.lines, "\n") + "\n"
}

// section is the profile of connection c, whose region = is c's Region:
// the profile's credentials are the customer role's, usable only in its
// partition.
func (o profilesOptions) section(c regionalConnection) profileSection {
	r := access.Ref{TenantID: c.TenantID, AccountID: c.AccountID}
	args := []string{o.command, "credentials", "--tenant", r.TenantID, "--api", o.api}
	if o.baseProfile != "" {
		args = append(args, "--base-profile", o.baseProfile)
	}
	// The account ID (12 digits, never quoted) comes last: the Go SDK
	// takes a value that starts and ends with a quote as one quoted
	// string and strips both quotes, which would pair the others wrongly.
	args = append(args, "--account", r.AccountID)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellWord(a)
	}
	s := profileSection{name: profileName(r.TenantID, r.AccountID), lines: []string{"credential_process = " + strings.Join(quoted, " ")}}
	if c.Region != "" {
		s.lines = append(s.lines, "region = "+c.Region)
	}
	return s
}

// shellWord quotes s for the readers of credential_process on the
// machine the profiles are written on, which is where they run.
func shellWord(s string) string {
	if runtime.GOOS == "windows" {
		return windowsWord(s)
	}
	return posixWord(s)
}

// windowsWord quotes s for the readers on Windows: cmd.exe /C (the Go and
// JavaScript SDKs) and botocore's Windows split, which know no single
// quotes. A word without white space or a character cmd.exe treats
// specially stays bare, backslashes included (C:\Users\dev\rolecall.exe,
// \\server\tools\rolecall.exe): the one form every Windows reader takes as
// it is, the Go SDK included, which escapes the double quotes it hands
// cmd.exe in a way cmd.exe does not read. Any other word is double-quoted,
// as the AWS CLI guide advises for a path with spaces (read so by cmd.exe
// and botocore, not by the Go SDK). cmd.exe splits words at , ; = too; it
// expands %VAR% even between double quotes, which no quoting prevents.
func windowsWord(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"&|<>^%!(),;=") {
		return s
	}
	return `"` + s + `"`
}

// posixWord quotes s for sh -c (the Go SDK) and Python's shlex (the AWS
// CLI and boto3). Safe words stay bare. Others are double-quoted, as the
// AWS CLI guide advises for a path; a word that sh would change between
// double quotes (doubleQuotable) is single-quoted instead, which sh and
// shlex read alike.
func posixWord(s string) string {
	switch {
	case s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,/:@+=") == "":
		return s
	case doubleQuotable(s):
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// doubleQuotable reports whether s reads back as itself between double
// quotes in sh and in shlex: it holds no '"', '$' or '`', and no
// backslash before another, a line break or the closing quote (sh would
// take those backslashes as escapes). A lone backslash, as in a Windows
// path, stays as it is.
func doubleQuotable(s string) bool {
	if strings.ContainsAny(s, "\"$`") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && (i+1 == len(s) || s[i+1] == '\\' || s[i+1] == '\n') {
			return false
		}
	}
	return true
}

// checkValue refuses a setting the profiles would carry that an AWS config
// file cannot hold as it is: the Go SDK ends a value at a newline and
// at a '#' or ';' after white space (a comment), quoted or not.
func checkValue(flag, v string) error {
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("%s: an AWS config file cannot hold a line break in a value", flag)
	}
	for _, c := range []string{" #", " ;", "\t#", "\t;"} {
		if strings.Contains(v, c) {
			return fmt.Errorf("%s: the AWS SDKs read %q in a config value as the start of a comment", flag, strings.TrimSpace(c))
		}
	}
	return nil
}

// mergeProfiles writes sections into the AWS config file at path: a
// section with the same header is replaced, the others are appended;
// every other line stays as it is. The old file is kept as path+".bak";
// the new one replaces it atomically. A path that is a symbolic link (a
// config kept with dotfiles) stays one: the file it points to is the one
// replaced, through a temporary file beside it.
func mergeProfiles(path string, sections []profileSection) error {
	target, err := linkTarget(path)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", path, err)
	}
	old, err := os.ReadFile(target)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	existed := err == nil
	merged := mergeINI(old, sections)
	if existed {
		if err := writeAtomic(path+".bak", old); err != nil {
			return fmt.Errorf("back up %s: %w", path, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(target), err)
	}
	if err := writeAtomic(target, merged); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeAtomic replaces the file at path with data, mode 0600, through a
// temporary file beside it that is synced before the rename: a crash
// leaves the old file or the new one, never a partial one, and a file
// that was there with a wider mode does not keep it. (google/renameio
// does this on Unix only; the CLI also builds for Windows.)
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, bytes.NewReader(data))
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// maxLinks bounds the symbolic links linkTarget follows, as the kernel's
// ELOOP does.
const maxLinks = 40

// linkTarget is the file path names once every symbolic link is followed
// (filepath.EvalSymlinks): path itself when it is no link. A link to a
// file that does not exist yet resolves to where that file would be, so
// that writing creates it and leaves the link in place.
func linkTarget(path string) (string, error) {
	target, err := filepath.EvalSymlinks(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return target, err
	}
	for range maxLinks {
		fi, err := os.Lstat(path)
		if errors.Is(err, os.ErrNotExist) || err == nil && fi.Mode()&os.ModeSymlink == 0 {
			return path, nil
		}
		if err != nil {
			return "", err
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
	return "", fmt.Errorf("more than %d symbolic links", maxLinks)
}

// mergeINI replaces or appends sections in an INI document.
func mergeINI(old []byte, sections []profileSection) []byte {
	byHeader := map[string]profileSection{}
	for _, s := range sections {
		byHeader[s.header()] = s
	}
	var out strings.Builder
	written := map[string]bool{}
	skipping := false
	for _, line := range strings.SplitAfter(string(old), "\n") {
		if line == "" {
			continue
		}
		h, ok := iniHeader(line)
		switch {
		case ok && byHeader[h].name != "":
			skipping = true
			if !written[h] {
				out.WriteString(byHeader[h].text() + "\n")
				written[h] = true
			}
			continue
		case ok || strings.HasPrefix(strings.TrimSpace(line), "["):
			// Another section, or a line some parser may take for one
			// (botocore reads "[x] text" as the header [x]): what follows
			// is not the replaced section's.
			skipping = false
		}
		if !skipping || isINIComment(line) {
			out.WriteString(line) // a comment is the user's, wherever it stands
		}
	}
	for _, s := range sections {
		if written[s.header()] {
			continue
		}
		if out.Len() > 0 {
			if !strings.HasSuffix(out.String(), "\n") {
				out.WriteString("\n")
			}
			out.WriteString("\n")
		}
		out.WriteString(s.text())
	}
	return []byte(out.String())
}

// isINIComment reports whether line is a comment line.
func isINIComment(line string) bool {
	t := strings.TrimLeft(line, " \t")
	return strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";")
}

// iniHeader returns the normalized header of a section line ("profile x"
// for "[ profile  x ]"). A comment may follow the header ("[profile x]
// # note"), which the Go SDK cuts off, and so may any text ("[profile x]
// managed"), which botocore passes over after the last "]": both read the
// line as the header.
func iniHeader(line string) (string, bool) {
	t := strings.TrimSpace(line)
	if i := strings.IndexAny(t, "#;"); i >= 0 {
		t = strings.TrimSpace(t[:i])
	}
	end := strings.LastIndex(t, "]")
	if !strings.HasPrefix(t, "[") || end < 1 {
		return "", false
	}
	return strings.Join(strings.Fields(t[1:end]), " "), true
}
