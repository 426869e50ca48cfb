// Package pipecli holds what the pipecli binary must carry of its
// repository's root: its licence, and the notices of the data its demo
// model embeds, which their licences require to travel with the binary.
package pipecli

import _ "embed"

// License is the text of LICENSE.
//
//go:embed LICENSE
var License string

// Notice is the text of NOTICE: the sources of the demo model's data, with
// their copyright lines and licences.
//
//go:embed NOTICE
var Notice string
