package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// errHelp reports that -h or --help was given.
var errHelp = flag.ErrHelp

// parseInterspersed parses fs's flags wherever they stand among the positional arguments, so that
// `markread g1 5 --json` works like `markread --json g1 5`. Everything after "--" is positional.
//
// Its errors spell flags as the help does (--timeout), which the flag package does not: it checks each
// flag's name and value itself before the flag package sees them, so that no message of the flag
// package's reaches the user.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard) // the callers print their own usage and errors
	if err := checkFlags(fs, args); err != nil {
		return nil, err
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, err // not reached: checkFlags found every error the flag package can
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// checkFlags finds what the flag package would refuse in args, and says it the way the help does.
func checkFlags(fs *flag.FlagSet, args []string) error {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return nil
		}
		if len(arg) < 2 || arg[0] != '-' {
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(arg[1:], "-"), "=")
		if name == "h" || name == "help" {
			return errHelp
		}
		f := fs.Lookup(name)
		if f == nil {
			return fmt.Errorf("unknown flag %s", quoteFlag(name))
		}
		if isBool(f) {
			if hasValue {
				if _, err := strconv.ParseBool(value); err != nil {
					return fmt.Errorf("--%s takes no value, or true or false; got %q", name, value)
				}
			}
			continue
		}
		if !hasValue {
			if i+1 == len(args) {
				return fmt.Errorf("--%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if err := checkValue(f, value); err != nil {
			return fmt.Errorf("--%s %q: %w", name, value, err)
		}
	}
	return nil
}

// quoteFlag spells a flag the user typed as the help does, quoted when it holds anything but letters,
// digits and dashes, so that an escape sequence in it cannot reach the terminal.
func quoteFlag(name string) string {
	for _, r := range name {
		if !(r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return strconv.Quote("--" + name)
		}
	}
	return "--" + name
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// checkValue reports whether f would take value, by the type of its default.
func checkValue(f *flag.Flag, value string) error {
	switch f.Value.(flag.Getter).Get().(type) {
	case time.Duration:
		if _, err := time.ParseDuration(value); err != nil {
			return errors.New("not a duration; want e.g. 30s or 2m")
		}
	case int:
		if _, err := strconv.Atoi(value); err != nil {
			return errors.New("not a whole number")
		}
	}
	return nil
}

// parseSubcommand parses the flags of a subcommand that takes no arguments (markread login, serve, token,
// logout). done says the command is over: after its help, or with a usage error printed; code is its exit.
func parseSubcommand(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (code int, done bool) {
	name := strings.TrimPrefix(fs.Name(), "markread ")
	positional, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, usage)
		return exitOK, true
	case err != nil:
		errorLine(stderr, name+": "+err.Error()+" ("+fs.Name()+" --help)")
		return exitUsage, true
	case len(positional) > 0:
		errorLine(stderr, name+" takes no arguments ("+fs.Name()+" --help)")
		return exitUsage, true
	}
	return exitOK, false
}
