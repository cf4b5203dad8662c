// libcni-driver: a container runtime in miniature over Debian's libcni, used by multiplane's tests and
// benchmark to drive CNI plugins exactly as kubelet's runtimes do.
//
//	libcni-driver <validate|add|check|del|lifecycle|bench> -conf FILE -path DIRS [-netns PATH -id CID -ifname IF -cachedir DIR -args K=V;K=V -n N -jitter D]
//
// add and lifecycle print the ADD result as JSON; bench runs N ADD+DEL rounds and prints timing JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
)

type options struct {
	conf, path, netns, id, ifname, cacheDir, args string
	rounds                                  int
	jitter                                  time.Duration
}

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: libcni-driver <validate|add|check|del|lifecycle|bench> [flags]"))
	}
	cmd := os.Args[1]
	var o options
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	fs.StringVar(&o.conf, "conf", "", "network configuration or configuration list file")
	fs.StringVar(&o.path, "path", "/usr/lib/cni", "plugin directories, ':'-separated")
	fs.StringVar(&o.netns, "netns", "", "network namespace path")
	fs.StringVar(&o.id, "id", "", "container ID")
	fs.StringVar(&o.ifname, "ifname", "eth0", "interface name")
	fs.StringVar(&o.cacheDir, "cachedir", "", "libcni result cache directory")
	fs.StringVar(&o.args, "args", "", "CNI_ARGS as kubelet's runtimes pass them (K8S_POD_NAMESPACE=...;K8S_POD_NAME=...)")
	fs.IntVar(&o.rounds, "n", 20, "bench: ADD+DEL rounds")
	fs.DurationVar(&o.jitter, "jitter", 0, "bench: an untimed pause of random length below this before each round")
	if err := fs.Parse(os.Args[2:]); err != nil {
		fail(err)
	}
	list, err := loadList(o.conf)
	if err != nil {
		fail(err)
	}
	cni := libcni.NewCNIConfigWithCacheDir(strings.Split(o.path, ":"), o.cacheDir, nil)
	rt := &libcni.RuntimeConf{ContainerID: o.id, NetNS: o.netns, IfName: o.ifname, Args: parseArgs(o.args)}
	ctx := context.Background()

	switch cmd {
	case "validate":
		_, err = cni.ValidateNetworkList(ctx, list)
	case "add":
		err = add(ctx, cni, list, rt)
	case "check":
		err = cni.CheckNetworkList(ctx, list, rt)
	case "del":
		err = cni.DelNetworkList(ctx, list, rt)
	case "lifecycle":
		err = lifecycle(ctx, cni, list, rt)
	case "bench":
		err = bench(ctx, cni, list, o)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fail(err)
	}
}

// parseArgs splits "K1=V1;K2=V2" into libcni's argument pairs.
func parseArgs(raw string) [][2]string {
	var pairs [][2]string
	for _, pair := range strings.Split(raw, ";") {
		if k, v, ok := strings.Cut(pair, "="); ok {
			pairs = append(pairs, [2]string{k, v})
		}
	}
	return pairs
}

// loadList reads a .conflist, or a single .conf wrapped into a list as runtimes do.
func loadList(file string) (*libcni.NetworkConfigList, error) {
	bytes, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var probe map[string]interface{}
	if err := json.Unmarshal(bytes, &probe); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(file), err)
	}
	if _, ok := probe["plugins"]; ok {
		return libcni.ConfListFromBytes(bytes)
	}
	conf, err := libcni.ConfFromBytes(bytes)
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromConf(conf)
}

func add(ctx context.Context, cni *libcni.CNIConfig, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	if _, err := cni.ValidateNetworkList(ctx, list); err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	result, err := cni.AddNetworkList(ctx, list, rt)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(result)
}

// lifecycle is ADD -> CHECK -> DEL -> DEL (the second DEL must succeed too), printing ADD's result.
func lifecycle(ctx context.Context, cni *libcni.CNIConfig, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	if err := add(ctx, cni, list, rt); err != nil {
		return fmt.Errorf("ADD: %w", err)
	}
	if err := cni.CheckNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("CHECK: %w", err)
	}
	for i := 1; i <= 2; i++ {
		if err := cni.DelNetworkList(ctx, list, rt); err != nil {
			return fmt.Errorf("DEL #%d: %w", i, err)
		}
	}
	return nil
}

// bench times o.rounds ADD+DEL pairs (after one warm-up pair) and prints {"rounds","median_us","mean_us","min_us"}.
// With o.jitter, each round starts after a random pause, at a random phase of the kernel's timer tick:
// the plugins' waits for RCU grace periods end on ticks, so back-to-back rounds lock onto the tick and a
// small extra cost shows either as nothing or as a whole tick; at random phases its mean is its size.
func bench(ctx context.Context, cni *libcni.CNIConfig, list *libcni.NetworkConfigList, o options) error {
	var samples []time.Duration
	for i := -1; i < o.rounds; i++ {
		rt := &libcni.RuntimeConf{ContainerID: fmt.Sprintf("%s-%d", o.id, i+1), NetNS: o.netns, IfName: o.ifname, Args: parseArgs(o.args)}
		if o.jitter > 0 {
			time.Sleep(time.Duration(rand.Int63n(int64(o.jitter))))
		}
		start := time.Now()
		if _, err := cni.AddNetworkList(ctx, list, rt); err != nil {
			return fmt.Errorf("ADD round %d: %w", i, err)
		}
		if err := cni.DelNetworkList(ctx, list, rt); err != nil {
			return fmt.Errorf("DEL round %d: %w", i, err)
		}
		if i >= 0 {
			samples = append(samples, time.Since(start))
		}
	}
	sort.Slice(samples, func(a, b int) bool { return samples[a] < samples[b] })
	var total time.Duration
	for _, s := range samples {
		total += s
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"rounds":    len(samples),
		"median_us": samples[len(samples)/2].Microseconds(),
		"mean_us":   (total / time.Duration(len(samples))).Microseconds(),
		"min_us":    samples[0].Microseconds(),
	})
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "libcni-driver:", err)
	os.Exit(1)
}
