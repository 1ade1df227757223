package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/gracekeeper/gracekeeper/e2e/bench"
	"github.com/gracekeeper/gracekeeper/e2e/cluster"
	"github.com/gracekeeper/gracekeeper/policies/policytest"
)

// setup is one namespace of part 3 and the admission its requests get.
type setup struct {
	name      string
	namespace string
	labels    map[string]string
	// mutates tells whether the typical pod comes back with its hooks.
	mutates bool
	// denial is how the API server words this setup's denial of a
	// Recreate Deployment; empty when nothing is denied.
	denial string
}

// The setups, in the order of every table; the indexes name them.
const (
	setupNone = iota
	setupGracekeeper
	setupFloorEmpty
	setupFloorPatch
	setupInTreeJSONPatch
	setupInTreeApply
)

var setups = []setup{
	{"no admission", "bench-none", nil, false, ""},
	{"gracekeeper (enforce)", "bench-gracekeeper", map[string]string{"gracekeeper.io/mode": "enforce"}, true,
		`admission webhook "enforce.validate.gracekeeper.io" denied the request`},
	{"minimal webhook, same calls, answering []", "bench-floor-empty", map[string]string{floorLabel: "empty"}, false, ""},
	{"minimal webhook, same calls, answering gracekeeper's patch", "bench-floor-patch", map[string]string{floorLabel: "patch"}, true, ""},
	{"in-tree policies, MutatingAdmissionPolicy as JSONPatch", "bench-in-tree-jsonpatch", map[string]string{inTreeLabel: "jsonpatch"}, true,
		`ValidatingAdmissionPolicy 'bench-rolling-updates' with binding 'bench-rolling-updates-jsonpatch' denied request`},
	{"in-tree policies, MutatingAdmissionPolicy as ApplyConfiguration", "bench-in-tree", map[string]string{inTreeLabel: "in-tree"}, true,
		`ValidatingAdmissionPolicy 'bench-rolling-updates' with binding 'bench-rolling-updates' denied request`},
}

// The kinds of objects created, by the name the report gives them. The
// graceful ones already have what gracekeeper would give them.
const (
	kindPod                = "Pod"
	kindDeployment         = "Deployment"
	kindGracefulPod        = "graceful Pod"
	kindGracefulDeployment = "graceful Deployment"
)

var apiKinds = []string{kindPod, kindDeployment, kindGracefulPod, kindGracefulDeployment}

// block is how many creates in a row go to one namespace before the next
// takes its turn, so that a slow spell of a shared machine hits them alike.
const block = 100

// maxMeasuring bounds the creates of part 3; they take five to ten
// minutes on a busy 2-CPU machine.
const maxMeasuring = 20 * time.Minute

// apiResult is part 3.
type apiResult struct {
	serverVersion   string
	matchConditions []admissionregistrationv1.MatchCondition
	runs            []apiRun
	// steps are the mean durations of the steps of admission.
	steps []stepTime
}

// apiRun is the creates of one kind at one concurrency, in every setup.
type apiRun struct {
	kind        string
	concurrency int
	// latencies of each setup, sorted, in the order of setups.
	latencies [][]time.Duration
	// calls are the API server's histograms of its calls to each webhook
	// during the run, by webhook name.
	calls map[string]*callHistogram
	// turns are the same, turn by turn: in each turn every setup's
	// namespace takes its block of creates, back to back (measureSetups).
	turns []map[string]*callHistogram
	// gracekeeperCalls is how many calls the API server made to
	// gracekeeper's webhooks during the run, by its own metrics.
	gracekeeperCalls int
}

func runAPIServer(ctx context.Context, opts *options, logf func(string, ...any)) (_ *apiResult, err error) {
	if err := cluster.BuildBinaries(ctx, ".", opts.binDir, os.Stderr); err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	c, err := cluster.Start(startCtx, cluster.Options{BinDir: opts.binDir, Progress: logf})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.Tails(10))
		}
		err = errors.Join(err, c.Stop())
	}()
	if err := c.StartWebhook(startCtx, opts.gracekeeper, nil); err != nil {
		return nil, err
	}
	result := &apiResult{}
	version, err := c.Client().Discovery().ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("API server version: %w", err)
	}
	result.serverVersion = version.GitVersion
	if result.matchConditions, err = installInTreePolicies(startCtx, c.Client()); err != nil {
		return nil, err
	}
	floor, err := startFloorWebhook(startCtx, c, opts, logf)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, floor.stop()) }()
	if opts.kyverno {
		kyverno, startErr := startKyverno(ctx, c, opts, logf)
		if startErr != nil {
			return nil, fmt.Errorf("start Kyverno: %w", startErr)
		}
		defer func() { err = errors.Join(err, kyverno.stop()) }()
		setups = append(setups, kyvernoSetup)
	}
	for _, s := range setups {
		if err := createNamespace(startCtx, c.Client(), s); err != nil {
			return nil, err
		}
	}
	client, err := benchClient(c.RESTConfig())
	if err != nil {
		return nil, err
	}
	for _, s := range setups {
		logf("checking that %s does its job", s.name)
		if err := verifySetup(startCtx, client, s); err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", s.name, err, floor.tail())
		}
	}

	creates := map[string]func(ctx context.Context, namespace string) error{
		kindPod: func(ctx context.Context, namespace string) error {
			_, err := client.CoreV1().Pods(namespace).Create(ctx, benchPod(namespace), dryRun)
			return err
		},
		kindDeployment: func(ctx context.Context, namespace string) error {
			_, err := client.AppsV1().Deployments(namespace).Create(ctx, benchDeployment(namespace), dryRun)
			return err
		},
		kindGracefulPod: func(ctx context.Context, namespace string) error {
			pod := benchPod(namespace)
			policytest.MakeGraceful(&pod.Spec)
			_, err := client.CoreV1().Pods(namespace).Create(ctx, pod, dryRun)
			return err
		},
		kindGracefulDeployment: func(ctx context.Context, namespace string) error {
			d := benchDeployment(namespace)
			policytest.MakeGraceful(&d.Spec.Template.Spec)
			_, err := client.AppsV1().Deployments(namespace).Create(ctx, d, dryRun)
			return err
		},
	}
	// The measurements stop by themselves, even on a machine far slower than expected.
	measureCtx, cancelMeasure := context.WithTimeout(ctx, maxMeasuring)
	defer cancelMeasure()
	for _, kind := range apiKinds {
		// Warm every path up: connections, caches, the webhook's TLS.
		if _, _, err := measureSetups(measureCtx, creates[kind], min(block, opts.creates), opts.apiConcurrency, nil); err != nil {
			return nil, fmt.Errorf("warm-up of %s creates: %w", kind, err)
		}
		concurrencies := []int{1}
		// Graceful objects are measured one at a time: their goal is the call that is not made.
		if opts.apiConcurrency > 1 && (kind == kindPod || kind == kindDeployment) {
			concurrencies = append(concurrencies, opts.apiConcurrency)
		}
		for _, concurrency := range concurrencies {
			logf("%d dry-run %s creates per namespace, %d at a time", opts.creates, kind, concurrency)
			callsBefore, err := apiServerCalls(ctx, c.Client())
			if err != nil {
				return nil, err
			}
			latencies, turns, err := measureSetups(measureCtx, creates[kind], opts.creates, concurrency, func(ctx context.Context) (map[string]*callHistogram, error) {
				return apiServerCalls(ctx, c.Client())
			})
			if err != nil {
				return nil, fmt.Errorf("%s creates: %w", kind, err)
			}
			callsAfter, err := apiServerCalls(ctx, c.Client())
			if err != nil {
				return nil, err
			}
			calls := callsSince(callsBefore, callsAfter)
			run := apiRun{kind: kind, concurrency: concurrency, latencies: latencies, calls: calls, turns: turns, gracekeeperCalls: gracekeeperCalls(calls)}
			result.runs = append(result.runs, run)
			for i, s := range setups {
				logf("  %s: p50 %.2f ms, p99 %.2f ms", s.name, ms(bench.Quantile(latencies[i], 0.5)), ms(bench.Quantile(latencies[i], 0.99)))
			}
			logf("  calls to gracekeeper's webhooks: %d", run.gracekeeperCalls)
			if pair, ok := callPairs[kind]; ok {
				gk, floor := calls[pair.gracekeeper], calls[pair.floor]
				logf("  mean call, by the API server's histogram: %s %.3f ms, %s %.3f ms (%.3f×; median of the turns' ratios %.3f×)",
					pair.gracekeeper, ms(gk.mean()), pair.floor, ms(floor.mean()), float64(gk.mean())/float64(floor.mean()), run.pairedCallRatio(pair))
			}
		}
	}
	gracekeeperMetrics, err := getText(ctx, c.WebhookProbeURL()+"/metrics")
	if err != nil {
		return nil, err
	}
	apiServerMetrics, err := c.Client().Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("get the API server's metrics: %w", err)
	}
	result.steps = admissionSteps(string(apiServerMetrics), gracekeeperMetrics)
	return result, nil
}

var dryRun = metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}

// benchClient is an admin client without client-side rate limits, which
// would measure themselves, and without printing the webhook's warnings.
func benchClient(config *rest.Config) (kubernetes.Interface, error) {
	config.QPS = -1
	config.WarningHandler = rest.NoWarnings{}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	return client, nil
}

func createNamespace(ctx context.Context, client kubernetes.Interface, s setup) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.namespace, Labels: s.labels}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", s.namespace, err)
	}
	// Pods need the namespace's default ServiceAccount, which a controller creates.
	return poll(ctx, func(ctx context.Context) error {
		_, err := client.CoreV1().ServiceAccounts(s.namespace).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

// benchPod is the typical pod, as its controller sends it.
func benchPod(namespace string) *corev1.Pod {
	pod := policytest.NewPod(policytest.TypicalContainers)
	pod.Namespace = namespace
	return pod
}

func benchDeployment(namespace string) *appsv1.Deployment {
	d := policytest.NewDeployment("registry.example.com/shop/web:2.4.1")
	d.Namespace = namespace
	return d
}

// verifySetup checks, until it holds or a minute passes, that the setup's
// admission does what the benchmark says it does: the pod gets its hooks
// and grace period, and Recreate and OnDelete are denied, or, without
// admission, neither happens. Policies and webhook configurations reach
// the API server's admission through informers, hence the wait.
func verifySetup(ctx context.Context, client kubernetes.Interface, s setup) error {
	return poll(ctx, func(ctx context.Context) error {
		pod, err := client.CoreV1().Pods(s.namespace).Create(ctx, benchPod(s.namespace), dryRun)
		if err != nil {
			return fmt.Errorf("dry-run pod create: %w", err)
		}
		recreate := benchDeployment(s.namespace)
		recreate.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		_, recreateErr := client.AppsV1().Deployments(s.namespace).Create(ctx, recreate, dryRun)
		onDelete := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: s.namespace},
			Spec: appsv1.StatefulSetSpec{
				Replicas: ptr.To[int32](3), ServiceName: "web", Selector: recreate.Spec.Selector, Template: recreate.Spec.Template,
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			},
		}
		_, onDeleteErr := client.AppsV1().StatefulSets(s.namespace).Create(ctx, onDelete, dryRun)

		sent := benchPod(s.namespace)
		if !s.mutates {
			if pod.Spec.Containers[0].Lifecycle != nil || !ptr.Equal(pod.Spec.TerminationGracePeriodSeconds, sent.Spec.TerminationGracePeriodSeconds) {
				return fmt.Errorf("the pod was changed: preStop %+v, grace period %v", pod.Spec.Containers[0].Lifecycle, ptr.Deref(pod.Spec.TerminationGracePeriodSeconds, -1))
			}
		} else if err := gracefulPod(pod); err != nil {
			return fmt.Errorf("dry-run pod create: %w", err)
		}
		if s.denial == "" {
			return errors.Join(recreateErr, onDeleteErr)
		}
		for what, err := range map[string]error{"Deployment with strategy Recreate": recreateErr, "StatefulSet with updateStrategy OnDelete": onDeleteErr} {
			if err == nil || !strings.Contains(err.Error(), s.denial) {
				return fmt.Errorf("dry-run create of a %s: got %v, want %q", what, err, s.denial)
			}
		}
		return nil
	})
}

// poll runs check every 250 ms until it returns nil, for up to a minute,
// and returns its last error if it never does.
func poll(ctx context.Context, check func(context.Context) error) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		last = check(ctx)
		return last == nil, nil
	})
	if err != nil && last != nil {
		return last
	}
	return err
}

// measureSetups sends n creates to every setup's namespace, at the given
// concurrency, the namespaces taking turns block by block, and returns the
// sorted latencies of each setup and, when calls is not nil, the API
// server's webhook calls of each turn: calls reads them before the first
// turn and after each.
func measureSetups(ctx context.Context, create func(context.Context, string) error, n, concurrency int,
	calls func(context.Context) (map[string]*callHistogram, error)) ([][]time.Duration, []map[string]*callHistogram, error) {
	latencies := make([][]time.Duration, len(setups))
	var turns []map[string]*callHistogram
	var before map[string]*callHistogram
	if calls != nil {
		var err error
		if before, err = calls(ctx); err != nil {
			return nil, nil, err
		}
	}
	for done, turn := 0, 0; done < n; done, turn = done+block, turn+1 {
		count := min(block, n-done)
		// Each block starts with another namespace.
		for k := range setups {
			i := (turn + k) % len(setups)
			l, err := measure(ctx, count, concurrency, func(ctx context.Context) error {
				return create(ctx, setups[i].namespace)
			})
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", setups[i].name, err)
			}
			latencies[i] = append(latencies[i], l...)
		}
		if calls != nil {
			after, err := calls(ctx)
			if err != nil {
				return nil, nil, err
			}
			turns, before = append(turns, callsSince(before, after)), after
		}
	}
	for _, l := range latencies {
		slices.Sort(l)
	}
	return latencies, turns, nil
}

// measure runs do n times from concurrency goroutines and returns the
// latency of each call. It stops at the first error.
func measure(ctx context.Context, n, concurrency int, do func(context.Context) error) ([]time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	latencies := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				start := time.Now()
				callCtx, cancelCall := context.WithTimeout(ctx, 30*time.Second)
				err := do(callCtx)
				cancelCall()
				if err != nil {
					cancel(err)
					return
				}
				latencies[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return latencies, nil
}
