package realnode

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A listing as iptables-nft prints it with kube-proxy, the kubelet and the
// CNI bridge plugin at work, plus rules of the host's own that must stay.
const natListing = `-P PREROUTING ACCEPT
-P INPUT ACCEPT
-P OUTPUT ACCEPT
-P POSTROUTING ACCEPT
-N CNI-1b2e4a0c8d1f3e5a7b9c0d1e
-N DOCKER
-N KUBE-KUBELET-CANARY
-N KUBE-MARK-MASQ
-N KUBE-POSTROUTING
-N KUBE-SERVICES
-N KUBE-SVC-ABC
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -s 10.88.0.2/32 -m comment --comment "name: \"gracekeeper-real-node\" id: \"abc\"" -j CNI-1b2e4a0c8d1f3e5a7b9c0d1e
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A CNI-1b2e4a0c8d1f3e5a7b9c0d1e -d 10.88.0.0/24 -j ACCEPT
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -j KUBE-SVC-ABC
`

func TestIptablesCleanupRemovesOwnedChainsAndTheJumpsToThemOnly(t *testing.T) {
	got := iptablesCleanup("nat", natListing)
	want := [][]string{
		{"-t", "nat", "-D", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"},
		{"-t", "nat", "-D", "OUTPUT", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"},
		{"-t", "nat", "-D", "POSTROUTING", "-m", "comment", "--comment", "kubernetes postrouting rules", "-j", "KUBE-POSTROUTING"},
		{"-t", "nat", "-D", "POSTROUTING", "-s", "10.88.0.2/32", "-m", "comment", "--comment", `name: "gracekeeper-real-node" id: "abc"`, "-j", "CNI-1b2e4a0c8d1f3e5a7b9c0d1e"},
		{"-t", "nat", "-F", "CNI-1b2e4a0c8d1f3e5a7b9c0d1e"},
		{"-t", "nat", "-F", "KUBE-KUBELET-CANARY"},
		{"-t", "nat", "-F", "KUBE-MARK-MASQ"},
		{"-t", "nat", "-F", "KUBE-POSTROUTING"},
		{"-t", "nat", "-F", "KUBE-SERVICES"},
		{"-t", "nat", "-F", "KUBE-SVC-ABC"},
		{"-t", "nat", "-X", "CNI-1b2e4a0c8d1f3e5a7b9c0d1e"},
		{"-t", "nat", "-X", "KUBE-KUBELET-CANARY"},
		{"-t", "nat", "-X", "KUBE-MARK-MASQ"},
		{"-t", "nat", "-X", "KUBE-POSTROUTING"},
		{"-t", "nat", "-X", "KUBE-SERVICES"},
		{"-t", "nat", "-X", "KUBE-SVC-ABC"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("iptablesCleanup:\n got %q\nwant %q", got, want)
	}
	for _, args := range got {
		if strings.Contains(strings.Join(args, " "), "DOCKER") || strings.Contains(strings.Join(args, " "), "MASQUERADE") {
			t.Errorf("cleanup touches a rule of the host's own: %q", args)
		}
	}
}

func TestIptablesCleanupOfACleanTableIsEmpty(t *testing.T) {
	for _, listing := range []string{"", "-P INPUT ACCEPT\n-P FORWARD DROP\n-N DOCKER\n-A FORWARD -j DOCKER\n"} {
		if got := iptablesCleanup("filter", listing); len(got) != 0 {
			t.Errorf("iptablesCleanup(%q) = %q, want nothing", listing, got)
		}
	}
}

func TestMountsUnderListsDeepestFirstAndDecodesEscapes(t *testing.T) {
	const mountinfo = `22 1 0:21 / / rw - overlay overlay rw
30 22 0:25 / /run rw - tmpfs tmpfs rw
41 30 0:40 / /run/gracekeeper-realnode/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw - overlay overlay rw
42 22 0:41 / /var/lib/gracekeeper-realnode/kubelet/pods/uid/volumes/kubernetes.io~projected/kube-api-access rw - tmpfs tmpfs rw
43 30 0:4 net:[4026532] /run/netns/cni-1234 rw - nsfs nsfs rw
44 30 0:4 net:[4026533] /run/netns/someone-else rw - nsfs nsfs rw
45 22 0:42 / /var/lib/gracekeeper-realnode-other rw - tmpfs tmpfs rw
46 22 0:43 / /var/lib/gracekeeper-realnode/with\040space rw - tmpfs tmpfs rw
47 30 0:44 / /run/gracekeeper-realnode rw - tmpfs tmpfs rw
`
	got := mountsUnder(mountinfo, []string{"/var/lib/gracekeeper-realnode", "/run/gracekeeper-realnode/", "/run/netns/cni-1234"})
	want := []string{
		"/var/lib/gracekeeper-realnode/kubelet/pods/uid/volumes/kubernetes.io~projected/kube-api-access",
		"/run/gracekeeper-realnode/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs",
		"/var/lib/gracekeeper-realnode/with space",
		"/run/netns/cni-1234",
		"/run/gracekeeper-realnode",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mountsUnder:\n got %q\nwant %q", got, want)
	}
}

func TestSysctlsAreRecordedAndRestored(t *testing.T) {
	procSys := t.TempDir()
	write := func(name, value string) {
		t.Helper()
		p := sysctlPath(procSys, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(value+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(name string) string {
		t.Helper()
		data, err := os.ReadFile(sysctlPath(procSys, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(data))
	}
	// Only some exist, as on a host without the conntrack module.
	write("net.ipv4.ip_forward", "0")
	write("vm.overcommit_memory", "0")
	write("kernel.panic", "1")
	record, err := recordHost(procSys)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"net.ipv4.ip_forward": "0", "vm.overcommit_memory": "0", "kernel.panic": "1"}
	if !reflect.DeepEqual(record.Sysctls, want) {
		t.Fatalf("recorded %v, want %v", record.Sysctls, want)
	}

	// The record survives a crash: a later run reads it from the state dir.
	state := t.TempDir()
	if err := record.save(state); err != nil {
		t.Fatal(err)
	}
	loaded, err := loadRecord(state)
	if err != nil || !reflect.DeepEqual(loaded, record) {
		t.Fatalf("loadRecord = %+v, %v; want %+v", loaded, err, record)
	}

	// What the node and the kubelet set.
	if err := setSysctl(procSys, "net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	write("vm.overcommit_memory", "1")
	write("kernel.panic", "10")
	if err := restoreSysctls(procSys, loaded.Sysctls); err != nil {
		t.Fatal(err)
	}
	for name, value := range want {
		if got := read(name); got != value {
			t.Errorf("%s = %s after restore, want %s", name, got, value)
		}
	}
	if _, err := os.Stat(sysctlPath(procSys, "net.netfilter.nf_conntrack_max")); !os.IsNotExist(err) {
		t.Errorf("restore created a sysctl that did not exist: %v", err)
	}
}

func TestLoadRecordWithoutARecordIsNothingToRestore(t *testing.T) {
	r, err := loadRecord(t.TempDir())
	if r != nil || err != nil {
		t.Errorf("loadRecord of an empty dir = %v, %v; want nil, nil", r, err)
	}
}

func TestLoadRecordRejectsAGarbledRecord(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, recordFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadRecord(dir); err == nil || !strings.Contains(err.Error(), "restored by hand") {
		t.Errorf("loadRecord of a garbled record: %v, want an error that says what to do", err)
	}
}

func TestCheckNamesWhatIsMissingAndHowToInstallIt(t *testing.T) {
	err := Check(t.TempDir())
	if err == nil {
		t.Fatal("Check of an empty binary dir passed")
	}
	for _, want := range []string{"kubelet", "kube-proxy", InstallCommand} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check error %q lacks %q", err, want)
		}
	}
}
