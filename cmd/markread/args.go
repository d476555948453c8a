package main

import (
	"errors"
	"flag"
	"io"
)

// errHelp reports that -h or --help was given.
var errHelp = flag.ErrHelp

// parseInterspersed parses fs's flags wherever they stand among the positional arguments, so that
// `markread g1 5 --json` works like `markread --json g1 5`. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard) // the callers print their own usage and errors
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, err
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
