package main

// What the lab learns from gracekeeper itself: it drives the binary (certs
// generate, serve) and reads what it answers, logs and records, so that no
// engine change has to edit the lab.

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// The serving pair's files in serve --tls-dir, as `gracekeeper serve --help`
// names them.
const (
	servingCertFile = "tls.crt"
	servingKeyFile  = "tls.key"
)

// generateServing runs `gracekeeper certs generate`: a new CA in caDir, and
// in dir its ca.crt and a serving pair for 127.0.0.1 and localhost, valid
// for validFor.
func generateServing(ctx context.Context, binary, dir, caDir string, validFor time.Duration) error {
	args := []string{"certs", "generate", "--dir", dir, "--ca-dir", caDir, "--host", "127.0.0.1", "--host", "localhost",
		"--valid-for", validFor.String(), "--ca-valid-for", validFor.String()}
	if out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", binary, shellJoin(args), err, out)
	}
	return nil
}

// servedPodPatch is the JSON Patch `gracekeeper serve`, with the chart's
// settings and default configuration, answers on /mutate/enforce for the
// typical Pod CREATE as the API server sends it (by the ReplicaSet
// controller). It fails unless the patch makes the pod graceful.
func servedPodPatch(ctx context.Context, opts *options, dir string) (_ []byte, err error) {
	p, url, _, files, err := boundsServer(ctx, opts, dir)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, p.stop()) }()
	body, err := policytest.PodCreateReview(policytest.TypicalContainers)
	if err != nil {
		return nil, err
	}
	var patch []byte
	err = verifyOnce(ctx, url+loadPath, body, files.roots, func(answer []byte) error {
		if err := checkPatched(answer); err != nil {
			return err
		}
		resp, err := decodeAnswer(answer)
		patch = resp.Patch
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gracekeeper's patch of the typical pod: %w\n%s", err, p.tail())
	}
	return patch, nil
}

// servedBudget is the in-flight byte budget a gracekeeper serve chose, read
// from the "memory bounds" line it logs at start (maxInFlightBytes).
func servedBudget(p *serverProcess) (int64, error) {
	data, err := os.ReadFile(p.log)
	if err != nil {
		return 0, err
	}
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		var line struct {
			Msg              string `json:"msg"`
			MaxInFlightBytes *int64 `json:"maxInFlightBytes"`
		}
		if json.Unmarshal(scanner.Bytes(), &line) == nil && line.Msg == "memory bounds" && line.MaxInFlightBytes != nil {
			return *line.MaxInFlightBytes, nil
		}
	}
	return 0, fmt.Errorf("gracekeeper serve logged no maxInFlightBytes in a \"memory bounds\" line\n%s", p.tail())
}

// judgedContainers is the most containers gracekeeper judges in one pod
// spec, found through the server at url: the largest ContainerHeavyPod whose
// CREATE the enforce mutating webhook patches (each container gets a preStop
// hook) rather than allowing it unchanged. It doubles the count from 1, then
// halves the interval where the answers change; policytest.LargestPodContainers
// if even that Pod is judged.
func judgedContainers(ctx context.Context, client *http.Client, url string) (int, error) {
	judged := func(n int) (bool, error) {
		body, err := policytest.ContainerHeavyReview("Pod", n)
		if err != nil {
			return false, err
		}
		code, answer, _, err := post(ctx, client, url+"/mutate/enforce"+chartTimeout, body)
		if err != nil || code != http.StatusOK {
			return false, fmt.Errorf("a Pod of %d containers: %d %v %.300s", n, code, err, answer)
		}
		resp, err := decodeAnswer(answer)
		if err != nil {
			return false, err
		}
		return len(resp.Patch) > 0 && string(resp.Patch) != "[]", nil
	}
	// judged(lo) holds; judged(hi) does not, once hi is found.
	lo, hi := 0, 1
	for {
		ok, err := judged(hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		if hi == policytest.LargestPodContainers {
			return hi, nil
		}
		lo, hi = hi, min(2*hi, policytest.LargestPodContainers)
	}
	if lo == 0 {
		return 0, errors.New("gracekeeper patches no Pod of containers without a preStop hook, not even of one")
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := judged(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// gracekeeperModules are the versions of the libraries on the measured path
// that the gracekeeper binary was built with, from its build information.
func gracekeeperModules(binary string) ([]string, error) {
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("read the build information of %s: %w", binary, err)
	}
	var modules []string
	for _, dep := range info.Deps {
		if slices.Contains(measuredModules, dep.Path) {
			if dep.Replace != nil {
				dep = dep.Replace
			}
			modules = append(modules, dep.Path+" "+dep.Version)
		}
	}
	return modules, nil
}

// measuredModules are the libraries a review goes through.
var measuredModules = []string{"github.com/slok/kubewebhook/v2", "k8s.io/api", "k8s.io/apimachinery", "k8s.io/client-go", "sigs.k8s.io/json"}

// writeServingFrom writes the serving pair of another `gracekeeper certs
// generate` over dir's, leaving its ca.crt.
func writeServingFrom(ctx context.Context, binary, dir, scratch string) error {
	other := filepath.Join(scratch, "tls")
	if err := generateServing(ctx, binary, other, filepath.Join(scratch, "ca"), time.Hour); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		perm os.FileMode
	}{{servingKeyFile, 0o600}, {servingCertFile, 0o644}} {
		data, err := os.ReadFile(filepath.Join(other, f.name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), data, f.perm); err != nil {
			return err
		}
	}
	return nil
}
