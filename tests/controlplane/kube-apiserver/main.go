// Command kube-apiserver is the upstream API server, built from Go modules so that
// kubegrant's tests can run a real control plane without Docker or downloaded binaries.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
