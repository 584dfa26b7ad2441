package web

import (
	"io/fs"
	"regexp"
	"testing"
)

// The server serves Assets at "/": index.html must be at the top, and
// every file the page loads must be embedded, except the chart library,
// which scripts/fetch-echarts.sh installs and whose absence the page
// survives (tables and a notice).
func TestAssetsHoldWhatIndexLoads(t *testing.T) {
	index, err := fs.ReadFile(Assets, "index.html")
	if err != nil {
		t.Fatalf("index.html is not at the top of Assets: %v", err)
	}
	refs := regexp.MustCompile(`(?:src|href)="(assets/[^"]+)"`).FindAllSubmatch(index, -1)
	if len(refs) < 3 {
		t.Fatalf("index.html loads %d assets, want the script, the stylesheet and the chart library", len(refs))
	}
	for _, m := range refs {
		p := string(m[1])
		if p == "assets/vendor/echarts.min.js" {
			continue
		}
		if _, err := fs.Stat(Assets, p); err != nil {
			t.Errorf("index.html loads %s, which is not embedded: %v", p, err)
		}
	}
	if _, err := fs.Stat(Assets, "assets/vendor/README.md"); err != nil {
		t.Errorf("the vendor README keeps the embed pattern matching without the chart library: %v", err)
	}
}
