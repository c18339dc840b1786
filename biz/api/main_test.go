package api_test

import (
	"os"
	"testing"

	"github.com/cloudwego/hertz/pkg/common/hlog"

	"github.com/learecordshop/recordshop/dal/testenv"
)

func TestMain(m *testing.M) {
	hlog.SetLevel(hlog.LevelWarn) // Hertz announces every listener and shutdown at info
	os.Exit(testenv.Main(m))
}
