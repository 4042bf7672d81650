package notify_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"

	ottr "github.com/ottr/backend"
	"github.com/ottr/backend/internal/platform/store"
	"github.com/ottr/backend/internal/platform/store/storetest"
	"github.com/ottr/backend/internal/tools/testserver"
)

// Instances starting together on one PostgreSQL database apply River's
// migrations one after another. (One SQLite file serves one instance.)
func TestInstancesStartingTogetherMigrateRiverOnce(t *testing.T) {
	t.Parallel()
	if storetest.SQLiteOnly() {
		t.Skip("PostgreSQL only, and OTTR_TEST_SQLITE_ONLY is set")
	}
	cfg := testserver.Config(t, store.Postgres)
	const instances = 4
	apps := make([]*ottr.App, instances)
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i := range instances {
		wg.Go(func() {
			apps[i], errs[i] = ottr.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		})
	}
	wg.Wait()
	for _, a := range apps {
		if a != nil {
			errs = append(errs, a.Close())
		}
	}
	storetest.Must(t, errors.Join(errs...))
}
