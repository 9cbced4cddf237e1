package ganeti

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The package is pure: its non-test files import only these standard
// packages and pkg/mac (no netlink, nftables, bbolt or sockets).
var allowedImports = map[string]bool{
	"bufio": true, "encoding/json": true, "errors": true, "fmt": true, "io": true,
	"maps": true, "net": true, "net/netip": true, "os": true, "slices": true,
	"strconv": true, "strings": true,
	"github.com/diktyo/diktyo/pkg/mac": true, // a pure leaf: the MAC type
}

func TestPurity(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !allowedImports[p] {
				t.Errorf("%s imports %q: this package must stay pure (add it to allowedImports only if it is)", f, p)
			}
		}
	}
}
