package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rolecall/rolecall/internal/rolesetup"
)

// Where verify takes an external ID from besides its flag, whose value
// any user of the machine sees in the process list (ps): a file, or
// stdin, or an environment variable (readable by the same user only).
const (
	externalIDEnv         = "ROLECALL_EXTERNAL_ID"
	previousExternalIDEnv = "ROLECALL_PREVIOUS_EXTERNAL_ID"
	// stdinFile names stdin as a --…-file.
	stdinFile = "-"
	// maxExternalIDInput bounds what is read of a file or stdin: an
	// external ID is at most 1224 characters, and a line break may
	// follow.
	maxExternalIDInput = 1224 + 2 // "\r\n"
)

// externalIDInput is one external ID verify takes: from its flag, else
// from its file flag (stdinFile: stdin), else from its environment
// variable. The flag and the file flag together are a usage error; the
// variable counts only when neither is given.
type externalIDInput struct {
	flag, fileFlag, env string // the names
	value, file         string // the flags' values
}

// externalIDUsageError is a mistake in how an external ID is given, or
// a value STS would not take as one: a usage error (exit status 2, with
// the usage).
type externalIDUsageError struct{ msg string }

func (e *externalIDUsageError) Error() string { return e.msg }

// takeExternalIDs sets o's external ID and previous one from where they
// are given (externalIDInput) and validates them as STS would. A
// mistake in the command line is an *externalIDUsageError; a file or
// stdin that cannot be read is another error. No error holds what was
// read.
func (o *verifyOptions) takeExternalIDs(stdin io.Reader) error {
	if o.externalIDFile == stdinFile && o.previousIDFile == stdinFile {
		return &externalIDUsageError{"stdin holds one external ID: give --external-id-file - or --previous-external-id-file -, not both"}
	}
	cur := externalIDInput{flag: "--external-id", fileFlag: "--external-id-file", env: externalIDEnv, value: o.externalID, file: o.externalIDFile}
	prev := externalIDInput{flag: "--previous-external-id", fileFlag: "--previous-external-id-file", env: previousExternalIDEnv, value: o.previousID, file: o.previousIDFile}
	var fromCur, fromPrev string
	var err error
	if o.externalID, fromCur, err = cur.resolve(stdin); err != nil {
		return err
	}
	if o.previousID, fromPrev, err = prev.resolve(stdin); err != nil {
		return err
	}
	if o.externalID == "" && o.externalIDFile == "" {
		return &externalIDUsageError{"--external-id is required, or --external-id-file, or $" + externalIDEnv}
	}
	// An empty file is refused as an external ID too short.
	if err := validateExternalID(fromCur, o.externalID); err != nil {
		return err
	}
	if o.previousID == "" && o.previousIDFile == "" {
		return nil
	}
	if err := validateExternalID(fromPrev, o.previousID); err != nil {
		return err
	}
	if o.previousID == o.externalID {
		return &externalIDUsageError{fmt.Sprintf("the previous external ID (%s) must differ from the current one (%s)", fromPrev, fromCur)}
	}
	return nil
}

// validateExternalID refuses an ID STS would, naming where it came from
// and never the ID.
func validateExternalID(from, id string) error {
	if err := rolesetup.ValidateExternalID(id); err != nil {
		var re *rolesetup.Error
		if errors.As(err, &re) {
			return &externalIDUsageError{from + ": " + re.Message}
		}
		return &externalIDUsageError{from + ": " + err.Error()}
	}
	return nil
}

// resolve returns the external ID ("" when none is given) and where it
// came from, for error messages. Nothing read is ever part of an error.
func (in externalIDInput) resolve(stdin io.Reader) (id, from string, err error) {
	switch {
	case in.value != "" && in.file != "":
		return "", "", &externalIDUsageError{fmt.Sprintf("give %s or %s, not both", in.flag, in.fileFlag)}
	case in.value != "":
		return in.value, in.flag, nil
	case in.file == stdinFile:
		id, err := readExternalIDLine(stdin)
		if err != nil {
			return "", "", fmt.Errorf("%s -: read stdin: %w", in.fileFlag, err)
		}
		return id, in.fileFlag + " -", nil
	case in.file != "":
		id, err := readExternalIDFile(in.file)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", in.fileFlag, err)
		}
		return id, in.fileFlag, nil
	}
	return os.Getenv(in.env), "$" + in.env, nil
}

// readExternalIDFile reads the external ID a file holds: the whole file,
// but for one line break at its end. Any other line break is left for
// the external ID's validation to refuse.
func readExternalIDFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxExternalIDInput+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxExternalIDInput {
		return "", errTooLong
	}
	return trimLineBreak(string(b)), nil
}

// readExternalIDLine reads stdin's first line, which is the external ID:
// a line break ends it, so that an ID typed in ends with Enter, and
// nothing after it is used (a buffered read may take up to
// maxExternalIDInput+1 bytes of stdin, which nothing else reads).
func readExternalIDLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxExternalIDInput+1)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if len(line) > maxExternalIDInput {
		return "", errTooLong
	}
	return trimLineBreak(line), nil
}

// errTooLong refuses input cut at maxExternalIDInput, whose length the
// external ID's validation could not tell.
var errTooLong = errors.New("longer than an external ID (at most 1224 characters)")

// trimLineBreak removes one "\n" or "\r\n" at the end of s.
func trimLineBreak(s string) string {
	s, _ = strings.CutSuffix(s, "\n")
	s, _ = strings.CutSuffix(s, "\r")
	return s
}
