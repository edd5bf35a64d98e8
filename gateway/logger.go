package gateway

import (
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dedupegate/dedupegate/config"
)

// NewLogger builds the zap logger the config asks for, writing to w: JSON lines (or the
// console format), buffered. A decision writes a few lines, and one write system call per line
// is a measurable share of a sub-millisecond request, so lines are flushed every second, when
// 256 KiB are waiting, and on Sync (call it at exit).
func NewLogger(c config.Log, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if c.Format == "console" {
		enc = zapcore.NewConsoleEncoder(encCfg)
	} else {
		enc = zapcore.NewJSONEncoder(encCfg)
	}
	ws := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(w), FlushInterval: time.Second}
	return zap.New(zapcore.NewCore(enc, ws, lvl)), nil
}
