{{/* The chart name, shortened to fit label values. */}}
{{- define "gracekeeper.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's base name; every object name starts with it. */}}
{{- define "gracekeeper.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gracekeeper.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gracekeeper.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gracekeeper.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gracekeeper.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gracekeeper
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* registry/repository:tag, or registry/repository@digest when image.digest is set. */}}
{{- define "gracekeeper.image" -}}
{{- $repository := .Values.image.repository }}
{{- with .Values.image.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The webhook's ServiceAccount: the chart's own, or the one you name. */}}
{{- define "gracekeeper.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gracekeeper.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The TLS Secret volume's file mode: 0440 when an fsGroup owns the files, 0444
otherwise (OpenShift's restricted SCC picks the UID and fsGroup itself; a pod
without fsGroup must still read them). The container runs one process.
*/}}
{{- define "gracekeeper.secretMode" -}}
{{- if (.Values.podSecurityContext | default dict).fsGroup }}288{{ else }}292{{ end }}
{{- end }}

{{- define "gracekeeper.tlsSecretName" -}}
{{- if eq .Values.certificates.mode "provided" }}
{{- .Values.certificates.provided.secretName }}
{{- else }}
{{- include "gracekeeper.fullname" . }}-tls
{{- end }}
{{- end }}

{{/* The CA Certificate whose ca.crt cert-manager's cainjector copies into the webhook configurations. */}}
{{- define "gracekeeper.caCertificateName" -}}
{{ include "gracekeeper.fullname" . }}-ca
{{- end }}

{{- define "gracekeeper.webhookAnnotations" -}}
{{- if eq .Values.certificates.mode "certManager" }}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "gracekeeper.caCertificateName" . }}
{{- end }}
{{- end }}

{{/* clientConfig of one webhook entry; the argument is (list $ "/path"). */}}
{{- define "gracekeeper.clientConfig" -}}
{{- $root := index . 0 }}
clientConfig:
  service:
    name: {{ include "gracekeeper.fullname" $root }}
    namespace: {{ $root.Release.Namespace }}
    path: {{ index . 1 }}
    port: 443
  {{- if eq $root.Values.certificates.mode "provided" }}
  caBundle: {{ $root.Values.certificates.provided.caBundle }}
  {{- end }}
{{- end }}

{{/*
namespaceSelector of the entry for one mode; the argument is (list $ "enforce").
Each mode's entry matches the namespaces in that mode, so the API server resolves
the mode and gracekeeper needs no namespace lookups.
*/}}
{{- define "gracekeeper.namespaceSelector" -}}
{{- $root := index . 0 }}
{{- $mode := index . 1 }}
{{- $other := ternary "audit" "enforce" (eq $mode "enforce") }}
{{- $excluded := concat (list "kube-system" "kube-public" "kube-node-lease" $root.Release.Namespace) $root.Values.exemptNamespaces | uniq }}
namespaceSelector:
  matchExpressions:
    {{- if and (eq $root.Values.scope "cluster") (eq $root.Values.defaultMode $mode) }}
    - key: gracekeeper.io/mode
      operator: NotIn
      values: {{ toJson (list $other "off") }}
    {{- else }}
    - key: gracekeeper.io/mode
      operator: In
      values: {{ toJson (list $mode) }}
    {{- end }}
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ toJson $excluded }}
{{- end }}
