//go:build !unix

package storetest

import (
	"context"
	"errors"
	"os"
)

func clusterOwners() []int { return []int{os.Getpid()} }

func throwawayCluster(context.Context, string, []int) (string, error) {
	return "", errors.New("throwaway clusters are started on Unix-like systems only: start a PostgreSQL server and set OTTR_TEST_DATABASE_URL")
}
