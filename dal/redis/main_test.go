package redis_test

import (
	"os"
	"testing"

	"github.com/learecordshop/recordshop/dal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
