package session

import (
	"fmt"
	"os"
)

// CheckSameFile refuses a run whose input and output are the same regular
// file, before anything is written: `--file X --output X` would truncate X
// before reading it, and an output appended to its own input (`--file X
// >> X`) would grow for ever. It is GNU cat's rule and message.
//
// input and output are --file and --output ("" or "-" input is stdin; ""
// output is stdout); stdin and stdout are ours, or nil if they are not
// files. Devices, pipes and files that do not exist yet never clash: the
// caller reports those that cannot be opened.
func CheckSameFile(input, output string, stdin, stdout *os.File) error {
	var in os.FileInfo
	switch input {
	case "", "-":
		if stdin == nil {
			return nil
		}
		in, _ = stdin.Stat()
	default:
		in, _ = os.Stat(input)
	}
	if in == nil || !in.Mode().IsRegular() {
		return nil
	}
	var out os.FileInfo
	if output != "" {
		out, _ = os.Stat(output)
	} else if stdout != nil {
		out, _ = stdout.Stat()
	}
	if out == nil || !os.SameFile(in, out) {
		return nil
	}
	name, fix := input, "give --output another file"
	switch {
	case output == "":
		fix = "redirect stdout to another file"
		if name == "" || name == "-" {
			name = "stdin"
		}
	case name == "" || name == "-":
		name = output
	}
	return &InputError{fmt.Errorf("%s: input file is output file; %s", name, fix)}
}
