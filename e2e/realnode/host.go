package realnode

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// changedSysctls are the host settings a node changes: the two it needs
// (forwarding, bridged traffic through iptables), those the kubelet sets on
// start (overcommit, panics, key quotas), and kube-proxy's route_localnet and
// conntrack limits. Each is recorded before the node starts and restored.
var changedSysctls = []string{
	"net.ipv4.ip_forward",
	"net.bridge.bridge-nf-call-iptables",
	"net.bridge.bridge-nf-call-ip6tables",
	"net.ipv4.conf.all.route_localnet",
	"vm.overcommit_memory",
	"vm.panic_on_oom",
	"kernel.panic",
	"kernel.panic_on_oops",
	"kernel.keys.root_maxkeys",
	"kernel.keys.root_maxbytes",
	"net.netfilter.nf_conntrack_max",
	"net.netfilter.nf_conntrack_tcp_timeout_established",
	"net.netfilter.nf_conntrack_tcp_timeout_close_wait",
}

// createdPaths are directories outside StateDir and RunDir that containerd,
// its shims, the CNI plugins or the kubelet create wherever they are
// configured; each one absent before the node starts is removed after.
var createdPaths = []string{
	"/run/containerd", // the shims' sockets (containerd 1.6 ignores its state dir for them)
	"/run/netns",      // the pods' network namespaces
	"/var/lib/cni",    // the CNI result cache
	"/var/log/pods",   // in case the kubelet ignores podLogsDir
	"/var/log/containers",
	"/etc/cni",
	"/var/lib/kubelet", // its device-plugin socket, which ignores --root-dir
	"/run/mount",       // libmount's table of the mounts runc makes
}

// hostRecord is what a node changed on the host, saved in StateDir before
// each change, so that Cleanup undoes it even in a later run, after a crash.
type hostRecord struct {
	// Sysctls holds the original value of each of changedSysctls that exists.
	Sysctls map[string]string `json:"sysctls"`
	// Absent lists the createdPaths that did not exist.
	Absent []string `json:"absent"`
	// Netns lists /run/netns before the node started: only the others go.
	Netns []string `json:"netns"`
	// Owner is the cluster directory of a detached node (make up), which
	// keeps the host until make down; empty for a node of this program.
	Owner string `json:"owner,omitempty"`
}

const recordFile = "host.json"

// loadRecord reads the record in dir; a missing one is nil and no error.
func loadRecord(dir string) (*hostRecord, error) {
	data, err := os.ReadFile(filepath.Join(dir, recordFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read host record: %w", err)
	}
	var r hostRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode host record %s: %w (remove it once the host is restored by hand)", filepath.Join(dir, recordFile), err)
	}
	return &r, nil
}

func (r *hostRecord) save(dir string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode host record: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, recordFile)
	if err := os.WriteFile(path+".tmp", data, 0o600); err != nil {
		return fmt.Errorf("write host record: %w", err)
	}
	return os.Rename(path+".tmp", path)
}

// recordHost reads what the node is about to change. procSys is /proc/sys
// (a directory of the same shape in tests).
func recordHost(procSys string) (*hostRecord, error) {
	r := &hostRecord{Sysctls: map[string]string{}}
	for _, name := range changedSysctls {
		data, err := os.ReadFile(sysctlPath(procSys, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // module not loaded: nothing to change either
		}
		if err != nil {
			return nil, fmt.Errorf("read sysctl %s: %w", name, err)
		}
		r.Sysctls[name] = strings.TrimSpace(string(data))
	}
	for _, p := range createdPaths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			r.Absent = append(r.Absent, p)
		}
	}
	r.Netns = netnsNames()
	return r, nil
}

func sysctlPath(procSys, name string) string {
	return filepath.Join(procSys, strings.ReplaceAll(name, ".", "/"))
}

// setSysctl writes one value, for the settings the node needs.
func setSysctl(procSys, name, value string) error {
	if err := os.WriteFile(sysctlPath(procSys, name), []byte(value), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", name, value, err)
	}
	return nil
}

// restoreSysctls writes back every recorded value that differs now.
func restoreSysctls(procSys string, original map[string]string) error {
	var errs []error
	names := make([]string, 0, len(original))
	for name := range original {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		data, err := os.ReadFile(sysctlPath(procSys, name))
		if err == nil && strings.TrimSpace(string(data)) == original[name] {
			continue
		}
		errs = append(errs, setSysctl(procSys, name, original[name]))
	}
	return errors.Join(errs...)
}

func netnsNames() []string {
	entries, _ := os.ReadDir("/run/netns")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// mountsUnder returns the mount points in mountinfo (the format of
// /proc/self/mountinfo) that are one of prefixes or below one, deepest
// first, so that each can be unmounted before what holds it.
func mountsUnder(mountinfo string, prefixes []string) []string {
	var found []string
	for _, line := range strings.Split(mountinfo, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		point := unescapeMountPath(fields[4])
		for _, p := range prefixes {
			p = strings.TrimSuffix(p, "/")
			if point == p || strings.HasPrefix(point, p+"/") {
				found = append(found, point)
				break
			}
		}
	}
	// A path mounted twice appears twice: each unmount removes one.
	slices.SortStableFunc(found, func(a, b string) int {
		return strings.Count(b, "/") - strings.Count(a, "/")
	})
	return found
}

// unescapeMountPath decodes the octal escapes (\040 for a space) the kernel
// writes in mount paths.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder detaches every mount at or below prefixes, deepest first.
func unmountUnder(prefixes []string) error {
	var errs []error
	// A detached mount can reveal one it covered: repeat until none is left.
	for range 5 {
		data, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return fmt.Errorf("read mounts: %w", err)
		}
		points := mountsUnder(string(data), prefixes)
		if len(points) == 0 {
			return nil
		}
		errs = errs[:0]
		for _, p := range points {
			if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}

// ownedChain reports whether an iptables chain belongs to what a node adds:
// kube-proxy's and the kubelet's KUBE-* chains, the CNI plugins' CNI-*.
func ownedChain(name string) bool {
	return strings.HasPrefix(name, "KUBE-") || strings.HasPrefix(name, "CNI-")
}

// iptablesCleanup returns the iptables arguments that remove from one table
// every chain ownedChain accepts and every rule of another chain that jumps
// to one, given the table's `iptables -S` listing: first the rules, then
// the chains' rules, then the chains (a chain is deleted only once empty and
// unreferenced).
func iptablesCleanup(table, listing string) [][]string {
	var rules, flush, remove [][]string
	for _, line := range strings.Split(listing, "\n") {
		args := splitRule(line)
		if len(args) < 2 {
			continue
		}
		switch args[0] {
		case "-N":
			if ownedChain(args[1]) {
				flush = append(flush, []string{"-t", table, "-F", args[1]})
				remove = append(remove, []string{"-t", table, "-X", args[1]})
			}
		case "-A":
			if ownedChain(args[1]) {
				continue // goes with the chain's flush
			}
			for i, a := range args {
				if (a == "-j" || a == "-g" || a == "--jump" || a == "--goto") && i+1 < len(args) && ownedChain(args[i+1]) {
					rules = append(rules, append([]string{"-t", table, "-D"}, args[1:]...))
					break
				}
			}
		}
	}
	return slices.Concat(rules, flush, remove)
}

// splitRule splits one line of `iptables -S` into arguments: words, with
// double quotes around those holding spaces (comments) and \" inside them.
func splitRule(line string) []string {
	var args []string
	var cur strings.Builder
	inQuote, inWord := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case inQuote && ch == '\\' && i+1 < len(line) && line[i+1] == '"':
			cur.WriteByte('"')
			i++
		case ch == '"':
			inQuote, inWord = !inQuote, true
		case !inQuote && (ch == ' ' || ch == '\t'):
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args
}

// cleanIptables removes the owned chains, and the jumps to them, from the
// IPv4 and IPv6 filter, nat, mangle and raw tables.
func cleanIptables() error {
	var errs []error
	for _, tool := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(tool); err != nil {
			continue
		}
		for _, table := range []string{"filter", "nat", "mangle", "raw"} {
			out, err := exec.Command(tool, "-w", "-t", table, "-S").Output()
			if err != nil {
				continue // table not present
			}
			for _, args := range iptablesCleanup(table, string(out)) {
				if out, err := exec.Command(tool, append([]string{"-w"}, args...)...).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, strings.TrimSpace(string(out))))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// cgroupRoot is where the kubelet (cgroupfs driver) makes its hierarchy
// under each controller.
const cgroupRoot = "/sys/fs/cgroup"

// podCgroups returns the kubelet's top cgroup directory under each mounted
// hierarchy that has one.
func podCgroups() []string {
	dirs, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", "kubepods"))
	if _, err := os.Stat(filepath.Join(cgroupRoot, "kubepods")); err == nil {
		dirs = append(dirs, filepath.Join(cgroupRoot, "kubepods"))
	}
	return dirs
}

// killPodProcesses SIGKILLs every process in the kubelet's cgroups (the
// containers and pause processes of pods the kubelet did not tear down) and
// waits up to timeout for them to go.
func killPodProcesses(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pids := map[int]bool{}
		for _, top := range podCgroups() {
			_ = filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
					return nil
				}
				data, _ := os.ReadFile(path)
				for _, f := range strings.Fields(string(data)) {
					if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
						pids[pid] = true
					}
				}
				return nil
			})
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes in the kubepods cgroups survived SIGKILL", len(pids))
		}
		for pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// removePodCgroups removes the kubelet's cgroup directories, deepest first.
// A cgroup directory holds only kernel files, and rmdir takes it as empty.
func removePodCgroups() error {
	var errs []error
	for _, top := range podCgroups() {
		var dirs []string
		_ = filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

// killByArgument SIGKILLs every process whose command line has arg as one
// argument: containerd's shims name the socket of the containerd that
// started them, which is ours alone.
func killByArgument(arg string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil || !slices.Contains(strings.Split(string(data), "\x00"), arg) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
