package realnode

import (
	"fmt"
	"path/filepath"
	"strings"
)

// containerdConfig keeps containerd's files in StateDir and RunDir, off the
// host's own /var/lib/containerd and /etc/containerd.
func containerdConfig(cniConfDir string) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    # Built by Start and imported; never pulled.
    sandbox_image = %[5]q
    # These VMs withhold CAP_SYS_RESOURCE even from root: the kubelet's
    # oom_score_adj of -998 for sandboxes fails inside runc ("can't get final
    # child's PID from pipe: EOF"). Clamp it to containerd's own.
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = %[6]q
  [plugins."io.containerd.internal.v1.opt"]
    path = %[7]q
`, filepath.Join(StateDir, "containerd"), filepath.Join(RunDir, "containerd"),
		filepath.Join(RunDir, "containerd.sock"), filepath.Join(RunDir, "containerd.sock.ttrpc"),
		PauseImage, cniConfDir, filepath.Join(StateDir, "containerd-opt"))
}

// cniConfig is a bridge network over PodCIDR, its gateway the first address.
func cniConfig() string {
	gateway := strings.TrimSuffix(PodCIDR, ".0/24") + ".1"
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "gracekeeper-real-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q, "gateway": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": %q
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, Bridge, PodCIDR, gateway, filepath.Join(StateDir, "cni", "networks"))
}

// kubeletConfig binds the kubelet's API and health port to loopback. The
// host runs cgroup v1, which the kubelet refuses unless told otherwise.
func kubeletConfig(containerdSocket, podLogsDir string, port, healthzPort int) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://%s
podLogsDir: %s
address: 127.0.0.1
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
maxPods: 100
serializeImagePulls: false
# A shared CI machine: never evict the test's pods for disk or memory.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, containerdSocket, podLogsDir, port, healthzPort)
}

// kubeProxyConfig runs kube-proxy in iptables mode with its ports on
// loopback, and leaves the host's conntrack limits alone.
func kubeProxyConfig(kubeconfig string, healthzPort, metricsPort int) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: %s}
hostnameOverride: %s
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
clusterCIDR: %s
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, kubeconfig, NodeName, healthzPort, metricsPort, PodCIDR)
}
