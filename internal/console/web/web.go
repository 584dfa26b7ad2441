// Package web is the console's single-page UI (issue 14): plain HTML, CSS
// and JavaScript with no build step, embedded in the binary so the console
// works on machines without network access. The server in
// internal/console serves Assets at "/" and the JSON API the page calls
// under /api/v1/ (docs/console.md); the page reads nothing else.
//
// Charts use Apache ECharts, which scripts/fetch-echarts.sh installs (pinned
// npm tarball) into assets/vendor/ before the build. That file is not
// committed: without it the package still compiles (assets/vendor/README.md
// matches the embed pattern) and the page shows its tables with a notice.
package web

import (
	"embed"
	"io/fs"
)

//go:embed index.html assets
var files embed.FS

// Assets is the UI rooted at its top: index.html, assets/app.js,
// assets/style.css and assets/vendor/echarts.min.js when fetched.
var Assets fs.FS = files
