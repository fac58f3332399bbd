// Command kube-controller-manager is the upstream controller manager (same k8s.io/kubernetes
// version as kube-apiserver), built from Go modules so that kubegrant's local control plane
// behaves as a cluster does: namespace deletion, garbage collection of owned objects,
// ServiceAccount tokens, ClusterRole aggregation, Deployments -> ReplicaSets -> Pods (which
// stay Pending: there are no nodes).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
