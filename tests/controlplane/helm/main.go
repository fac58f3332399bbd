// Command helm is the upstream Helm CLI (helm.sh/helm/v4, version pinned in go.mod), built from
// Go modules like kube-apiserver and etcd so kubegrant's chart tests (helm lint, template,
// install) run on a fresh machine without a downloaded binary. The body is Helm's own
// cmd/helm/helm.go without the client-go auth plugins (kubegrant's kubeconfigs use client
// certificates and tokens only).
package main

import (
	"errors"
	"log/slog"
	"os"

	helmcmd "helm.sh/helm/v4/pkg/cmd"
	"helm.sh/helm/v4/pkg/kube"
)

func main() {
	kube.ManagedFieldsManager = "helm"

	cmd, err := helmcmd.NewRootCmd(os.Stdout, os.Args[1:], helmcmd.SetupLogging)
	if err != nil {
		slog.Warn("command failed", slog.Any("error", err))
		os.Exit(1)
	}
	if err := cmd.Execute(); err != nil {
		if cerr, ok := errors.AsType[helmcmd.CommandError](err); ok {
			os.Exit(cerr.ExitCode)
		}
		os.Exit(1)
	}
}
