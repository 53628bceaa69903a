// The publiccode.yml validator (Developers Italia's publiccode-parser-go), built from the Go
// module proxy by deploy/local/go-tools.sh. go-vcsurl at v2.1.1: the parser asks for v2.1.0,
// which the proxy does not serve; v2.1.1 is its next patch release.
module eenloket.local/publiccode-parser

go 1.25.0

require (
	github.com/alranel/go-vcsurl/v2 v2.1.1
	github.com/italia/publiccode-parser-go/v5 v5.3.1
)
