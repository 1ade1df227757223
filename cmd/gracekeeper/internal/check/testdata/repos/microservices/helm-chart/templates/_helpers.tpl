{{- define "boutique.labels" -}}
app: {{ .name }}
{{- end }}
