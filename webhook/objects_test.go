package webhook

// Objects as the API server sends them to webhooks: defaulted, with the
// fields the rules read.

// podYAML is a pod the ReplicaSet controller creates, with no preStop hook
// and a grace period too short for one. spec.futureField stands for a field
// newer than the compiled k8s.io/api: it must not stop the review.
const podYAML = `
apiVersion: v1
kind: Pod
metadata:
  name: web-7d9f8b6c5d-x2x4k
  namespace: shop
  labels: {app: web, pod-template-hash: 7d9f8b6c5d}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9f8b6c5d, uid: 5c1e0f52-0b1c-4f0e-9d7a-3a1b2c3d4e5f, controller: true}
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 10
  futureField: {enabled: true}
  containers:
  - name: app
    image: nginx:1.27
    readinessProbe: {httpGet: {path: /, port: 80}}
`

// podWithoutProbeYAML has its own preStop hook and grace period, and no readinessProbe.
const podWithoutProbeYAML = `
apiVersion: v1
kind: Pod
metadata:
  name: web-7d9f8b6c5d-q8z7m
  namespace: shop
  labels: {app: web, pod-template-hash: 7d9f8b6c5d}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9f8b6c5d, uid: 5c1e0f52-0b1c-4f0e-9d7a-3a1b2c3d4e5f, controller: true}
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: nginx:1.27
    lifecycle: {preStop: {sleep: {seconds: 5}}}
`

// runningPodYAML is the stored pod of a DELETE: scheduled and running.
const runningPodYAML = `
apiVersion: v1
kind: Pod
metadata:
  name: web-7d9f8b6c5d-x2x4k
  namespace: shop
  labels: {app: web, pod-template-hash: 7d9f8b6c5d}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9f8b6c5d, uid: 5c1e0f52-0b1c-4f0e-9d7a-3a1b2c3d4e5f, controller: true}
spec:
  nodeName: node-1
  restartPolicy: Always
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: nginx:1.27
    lifecycle: {preStop: {sleep: {seconds: 5}}}
    readinessProbe: {httpGet: {path: /, port: 80}}
status: {phase: Running}
`

// riskyDeploymentYAML lets all its replicas go down in a rollout, keeps one
// revision, and its pod template has no preStop hook and no readinessProbe.
const riskyDeploymentYAML = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 3
  revisionHistoryLimit: 1
  selector: {matchLabels: {app: web}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 100%, maxSurge: 25%}
  template:
    metadata: {labels: {app: web}}
    spec:
      restartPolicy: Always
      terminationGracePeriodSeconds: 30
      containers:
      - {name: app, image: nginx:1.27}
`

// deploymentYAML is a graceful Deployment, a format of two strings: its
// metadata's annotations, then its strategy.
const deploymentYAML = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, annotations: {%s}}
spec:
  replicas: 3
  revisionHistoryLimit: 10
  selector: {matchLabels: {app: web}}
  strategy: %s
  template:
    metadata: {labels: {app: web}}
    spec:
      restartPolicy: Always
      terminationGracePeriodSeconds: 30
      containers:
      - name: app
        image: nginx:1.27
        lifecycle: {preStop: {sleep: {seconds: 5}}}
        readinessProbe: {httpGet: {path: /, port: 80}}
`

const (
	rollingStrategy  = `{type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 25%}}`
	recreateStrategy = `{type: Recreate}`
)

// statefulSetYAML is a graceful StatefulSet with the given updateStrategy type and replicas.
const statefulSetYAML = `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  replicas: %d
  revisionHistoryLimit: 10
  serviceName: db
  selector: {matchLabels: {app: db}}
  updateStrategy: {type: %s}
  template:
    metadata: {labels: {app: db}}
    spec:
      restartPolicy: Always
      terminationGracePeriodSeconds: 30
      containers:
      - name: db
        image: postgres:17
        lifecycle: {preStop: {sleep: {seconds: 5}}}
        readinessProbe: {exec: {command: [pg_isready]}}
`

// daemonSetYAML is a graceful DaemonSet running on two nodes.
const daemonSetYAML = `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec:
  revisionHistoryLimit: 10
  selector: {matchLabels: {app: agent}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      restartPolicy: Always
      terminationGracePeriodSeconds: 30
      containers:
      - name: agent
        image: agent:1.0
        lifecycle: {preStop: {sleep: {seconds: 5}}}
        readinessProbe: {httpGet: {path: /, port: 80}}
status: {desiredNumberScheduled: 2}
`

// scaleYAML is what "kubectl scale deployment/web --replicas=N" sends to the scale subresource.
const scaleYAML = `
apiVersion: autoscaling/v1
kind: Scale
metadata: {name: web, namespace: shop}
spec: {replicas: %d}
status: {replicas: 3, selector: app=web}
`

// namespaceYAML is a namespace with the given mode label.
const namespaceYAML = `
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {kubernetes.io/metadata.name: shop, gracekeeper.io/mode: "%s"}
`

// Delete options as kubectl sends them.
const (
	backgroundDelete = `{apiVersion: meta.k8s.io/v1, kind: DeleteOptions, propagationPolicy: Background}`
	orphanDelete     = `{apiVersion: meta.k8s.io/v1, kind: DeleteOptions, propagationPolicy: Orphan}`
	forceDelete      = `{apiVersion: meta.k8s.io/v1, kind: DeleteOptions, gracePeriodSeconds: 0, propagationPolicy: Background}`
	plainDelete      = `{apiVersion: meta.k8s.io/v1, kind: DeleteOptions, gracePeriodSeconds: 30, propagationPolicy: Background}`
)

// rolloutYAML is an Argo Rollout (a CRD) with replicas and a canary maxUnavailable.
const rolloutYAML = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: shop}
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  strategy:
    canary: {maxUnavailable: %q, maxSurge: 0, steps: [{setWeight: 20}]}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 40
      containers:
      - name: web
        image: registry.example/web:1
        readinessProbe: {httpGet: {path: /ready, port: 8080}}
        lifecycle: {preStop: {sleep: {seconds: 5}}}
`
