package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/spf13/cobra"

	"github.com/rolecall/rolecall/internal/opsapi"
	"github.com/rolecall/rolecall/internal/truncate"
)

// opsGroup returns a command group whose subcommands share the ops flags
// (opsOptions). Alone it prints its help; with a word that is none of its
// subcommands (a typo) it is a usage error, exit 2, so that a script's
// `rolecall connections lst --json` does not succeed on help text.
func opsGroup(use, short, long string) (*cobra.Command, *opsOptions) {
	o := &opsOptions{}
	cmd := &cobra.Command{Use: use, Short: short, Long: long,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageExit(cmd, fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath()))
			}
			return cmd.Help()
		}}
	addOpsFlags(cmd, o)
	return cmd, o
}

// opsCall is the body of an ops subcommand: it calls the API and returns
// the answer --json prints (the API's JSON, as it came) and text, which
// prints it for people.
type opsCall func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) (answer any, text func() error, err error)

// opsCommand makes cmd run call through opsRun and print its answer: as
// JSON with --json, as text otherwise.
func opsCommand(o *opsOptions, cmd *cobra.Command, call opsCall) *cobra.Command {
	cmd.RunE = opsRun(o, func(ctx context.Context, c *opsapi.Client, cmd *cobra.Command, args []string) error {
		answer, text, err := call(ctx, c, cmd, args)
		if err != nil {
			return err
		}
		return o.print(cmd, answer, text)
	})
	return cmd
}

// print prints an answer: as JSON with --json, else with text.
func (o *opsOptions) print(cmd *cobra.Command, answer any, text func() error) error {
	if o.json {
		return printJSON(cmd.OutOrStdout(), answer)
	}
	return text()
}

// detailTable prints one item as FIELD/VALUE rows.
func detailTable(w io.Writer, rows [][2]any) error {
	tw := newTable(w, "FIELD", "VALUE")
	for _, r := range rows {
		tw.AppendRow([]any{r[0], r[1]})
	}
	tw.Render()
	return nil
}

// printJSON prints an API answer indented.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// listOf is a list as --json prints it: {"<key>": [...]}.
func listOf(key string, items []json.RawMessage) map[string][]json.RawMessage {
	if items == nil {
		items = []json.RawMessage{}
	}
	return map[string][]json.RawMessage{key: items}
}

// newTable returns a borderless table writing to w, with header.
func newTable(w io.Writer, header ...any) *tableOut {
	t := table.NewWriter()
	t.SetStyle(table.StyleLight)
	t.Style().Options = table.OptionsNoBordersAndSeparators
	t.Style().Format.Header = 0 // keep the headers as written
	t.AppendHeader(table.Row(header))
	return &tableOut{Writer: t, w: w}
}

// tableOut renders a table without the padding go-pretty leaves at the
// end of each line, every text cell shown (shown).
type tableOut struct {
	table.Writer
	w io.Writer
}

// AppendRow adds a row, its texts made safe to show: the cells hold what
// the API answered.
func (t *tableOut) AppendRow(row table.Row, configs ...table.RowConfig) {
	out := make(table.Row, len(row))
	for i, v := range row {
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.String {
			v = shown(rv.String())
		}
		out[i] = v
	}
	t.Writer.AppendRow(out, configs...)
}

// shownMax bounds a text the CLI shows: far more than any RoleCall writes.
const shownMax = 4096

// shown is text from an API or a service as a terminal may show it:
// without control characters but line breaks and tabs, nor format
// characters, and bounded. The API is the partner's own, but a broken
// proxy or a mistyped --api could answer escape sequences that clear the
// screen or rewrite what was printed before.
func shown(s string) string { return truncate.Printable(s, shownMax) }

// Render writes the table.
func (t *tableOut) Render() string {
	var b strings.Builder
	for _, l := range strings.Split(t.Writer.Render(), "\n") {
		b.WriteString(strings.TrimRight(l, " "))
		b.WriteByte('\n')
	}
	fmt.Fprint(t.w, b.String())
	return b.String()
}

// when renders a time for tables: UTC to the second, "-" when unset.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// orDash renders "" as "-".
func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
