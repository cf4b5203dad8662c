// podresources-stub serves kubelet's PodResources API (v1.PodResourcesLister, from kubelet's own
// generated code in k8s.io/kubelet) on a unix socket, answering List with the allocations in a JSON
// file. It stands in for kubelet where no kubelet runs, so that multus's client is tested against the
// real protocol.
//
//	podresources-stub -socket PATH -allocations FILE
//
// FILE: [{"namespace": "ns", "name": "pod", "containers": [{"name": "c", "devices": [{"resource": "r", "ids": ["id"]}]}]}]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
	podresources "k8s.io/kubelet/pkg/apis/podresources/v1"
)

type device struct {
	Resource string   `json:"resource"`
	IDs      []string `json:"ids"`
}

type container struct {
	Name    string   `json:"name"`
	Devices []device `json:"devices"`
}

type pod struct {
	Namespace  string      `json:"namespace"`
	Name       string      `json:"name"`
	Containers []container `json:"containers"`
}

type lister struct {
	podresources.UnimplementedPodResourcesListerServer
	file string
}

// List re-reads the allocations file on every call, so tests can change it while the stub runs.
func (l *lister) List(context.Context, *podresources.ListPodResourcesRequest) (*podresources.ListPodResourcesResponse, error) {
	bytes, err := os.ReadFile(l.file)
	if err != nil {
		return nil, err
	}
	var pods []pod
	if err := json.Unmarshal(bytes, &pods); err != nil {
		return nil, fmt.Errorf("%s: %w", l.file, err)
	}
	resp := &podresources.ListPodResourcesResponse{}
	for _, p := range pods {
		pr := &podresources.PodResources{Name: p.Name, Namespace: p.Namespace}
		for _, c := range p.Containers {
			cr := &podresources.ContainerResources{Name: c.Name}
			for _, d := range c.Devices {
				cr.Devices = append(cr.Devices, &podresources.ContainerDevices{ResourceName: d.Resource, DeviceIds: d.IDs})
			}
			pr.Containers = append(pr.Containers, cr)
		}
		resp.PodResources = append(resp.PodResources, pr)
	}
	return resp, nil
}

func main() {
	socket := flag.String("socket", "", "unix socket to serve on")
	file := flag.String("allocations", "", "JSON file of pod device allocations")
	flag.Parse()
	os.Remove(*socket)
	listener, err := net.Listen("unix", *socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, "podresources-stub:", err)
		os.Exit(1)
	}
	server := grpc.NewServer()
	podresources.RegisterPodResourcesListerServer(server, &lister{file: *file})
	if err := server.Serve(listener); err != nil {
		fmt.Fprintln(os.Stderr, "podresources-stub:", err)
		os.Exit(1)
	}
}
