// Command device-plugin is the node tier's stand-in for the SR-IOV network device plugin: it advertises
// the devices it is given (the PCI addresses of the fake tree's VFs) as one extended resource to kubelet
// through the device plugin API (v1beta1), and answers Allocate with the variable the SR-IOV device plugin
// sets, PCIDEVICE_<RESOURCE> (the resource name upper-cased, other characters as '_'), listing the
// allocated addresses. It runs until SIGTERM or SIGINT.
//
// Usage: device-plugin -dir KUBELET_ROOT/device-plugins -resource intel.com/x -devices ADDR,ADDR
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

type plugin struct {
	pluginapi.UnimplementedDevicePluginServer
	devices []string
	envName string
}

func (p *plugin) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{}, nil
}

// ListAndWatch sends the devices once, all healthy, and keeps the stream open.
func (p *plugin) ListAndWatch(_ *pluginapi.Empty, stream grpc.ServerStreamingServer[pluginapi.ListAndWatchResponse]) error {
	response := &pluginapi.ListAndWatchResponse{}
	for _, id := range p.devices {
		response.Devices = append(response.Devices, &pluginapi.Device{ID: id, Health: pluginapi.Healthy})
	}
	if err := stream.Send(response); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

func (p *plugin) GetPreferredAllocation(context.Context, *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	return &pluginapi.PreferredAllocationResponse{}, nil
}

// Allocate gives each container the addresses of its devices in one variable.
func (p *plugin) Allocate(_ context.Context, request *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	response := &pluginapi.AllocateResponse{}
	for _, container := range request.ContainerRequests {
		log.Printf("allocate %v", container.DevicesIds)
		response.ContainerResponses = append(response.ContainerResponses, &pluginapi.ContainerAllocateResponse{
			Envs: map[string]string{p.envName: strings.Join(container.DevicesIds, ",")},
		})
	}
	return response, nil
}

func (p *plugin) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}

// envName is PCIDEVICE_ and the resource name with every character other than A-Z and 0-9 as '_'.
func envName(resource string) string {
	return "PCIDEVICE_" + strings.Map(func(r rune) rune {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, strings.ToUpper(resource))
}

func main() {
	dir := flag.String("dir", "", "kubelet's device-plugins directory (its kubelet.sock is there)")
	resource := flag.String("resource", "", "the extended resource to advertise")
	devices := flag.String("devices", "", "comma-separated device IDs (PCI addresses)")
	flag.Parse()
	if *dir == "" || *resource == "" || *devices == "" {
		log.Fatal("device-plugin: -dir, -resource and -devices are required")
	}
	endpoint := "multiplane-node-tier.sock"
	socket := filepath.Join(*dir, endpoint)
	_ = os.Remove(socket)
	listener, err := net.Listen("unix", socket)
	if err != nil {
		log.Fatalf("device-plugin: listen %s: %v", socket, err)
	}
	server := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(server, &plugin{devices: strings.Split(*devices, ","), envName: envName(*resource)})
	go func() {
		if err := server.Serve(listener); err != nil {
			log.Fatalf("device-plugin: serve: %v", err)
		}
	}()

	conn, err := grpc.NewClient("unix://"+filepath.Join(*dir, "kubelet.sock"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatalf("device-plugin: kubelet's registration socket: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version: pluginapi.Version, Endpoint: endpoint, ResourceName: *resource,
	})
	cancel()
	conn.Close()
	if err != nil {
		log.Fatalf("device-plugin: register %s with kubelet: %v", *resource, err)
	}
	log.Printf("registered %s: %s", *resource, *devices)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
	server.Stop()
	_ = os.Remove(socket)
}
