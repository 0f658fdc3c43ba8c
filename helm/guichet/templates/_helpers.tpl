{{/* Names and labels. */}}
{{- define "guichet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "guichet.fullname" -}}
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

{{- define "guichet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "guichet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "guichet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "guichet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "guichet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "guichet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "guichet.secretName" -}}
{{- default (include "guichet.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "guichet.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Where the config and the Secret's files are mounted; the image's CMD reads the first. */}}
{{- define "guichet.configPath" -}}/etc/guichet/guichet.toml{{- end }}
{{- define "guichet.secretsDir" -}}/etc/guichet/secrets{{- end }}

{{/* Ports, read from the config so the container, the Service and guichet always agree. */}}
{{- define "guichet.httpPort" -}}
{{- .Values.config.server.listen | toString | splitList ":" | last | int }}
{{- end }}

{{- define "guichet.metricsListen" -}}
{{- with .Values.config.metrics }}{{ .listen | default "" }}{{ end }}
{{- end }}

{{- define "guichet.metricsPort" -}}
{{- include "guichet.metricsListen" . | splitList ":" | last | int }}
{{- end }}

{{- define "guichet.replicasAboveOne" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/*
The configuration file. Helm reads every number of a values file as a float, and toToml would
write `max_sessions = 100000.0`, which guichet refuses: whole numbers are turned back into
integers first (guichet has no key where a whole float would mean something else).
*/}}
{{- define "guichet.configToml" -}}
{{- $config := deepCopy .Values.config }}
{{- include "guichet.intify" $config }}
{{- toToml $config }}
{{- end }}

{{/* Replaces, in place and recursively, whole float64 values of a map by int64. */}}
{{- define "guichet.intify" -}}
{{- $map := . }}
{{- range $key, $value := $map }}
{{- if kindIs "float64" $value }}
{{- if eq $value (floor $value) }}{{ $_ := set $map $key (int64 $value) }}{{ end }}
{{- else if kindIs "map" $value }}
{{- include "guichet.intify" $value }}
{{- else if kindIs "slice" $value }}
{{- $items := list }}
{{- range $item := $value }}
{{- if kindIs "map" $item }}
{{- include "guichet.intify" $item }}
{{- $items = append $items $item }}
{{- else if and (kindIs "float64" $item) (eq $item (floor $item)) }}
{{- $items = append $items (int64 $item) }}
{{- else }}
{{- $items = append $items $item }}
{{- end }}
{{- end }}
{{- $_ := set $map $key $items }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Refusals with a clear message, for what values.schema.json cannot say well. Included by the
Deployment, so `helm install` and `helm template` stop on them.
*/}}
{{- define "guichet.validate" -}}
{{- $config := .Values.config }}
{{- $session := $config.session | default dict }}
{{- $headers := $config.headers | default dict }}
{{- if include "guichet.replicasAboveOne" . }}
{{- if ne ($session.store | default "memory") "redis" }}
{{- fail "replicaCount > 1 (or autoscaling.enabled) needs config.session.store = \"redis\": with the memory store each pod has its own sessions, and a citizen logged in on one pod is sent back to the login page by the next. Set config.session.store = \"redis\", config.session.redis_url and config.session.seal_keys (docs/replicas.md)." }}
{{- end }}
{{- if not $headers.signing_keys }}
{{- fail "replicaCount > 1 (or autoscaling.enabled) needs config.headers.signing_keys: without a configured key each pod signs the identity assertion with its own generated key, and the application rejects the assertions of the other pods. Make one with `guichet keygen --alg ES256`, add it to the Secret (secrets.files.signing-key.pem or secrets.existingSecret) and set config.headers.signing_keys = [\"file:/etc/guichet/secrets/signing-key.pem\"]." }}
{{- end }}
{{- end }}
{{- if and (eq ($session.store | default "memory") "redis") (not $session.seal_keys) }}
{{- fail "config.session.store = \"redis\" needs config.session.seal_keys: every record guichet writes to Redis is sealed (encrypted and authenticated) with a key all pods share. Make one with `guichet keygen --alg A256GCM`, add it to the Secret (--set-file secrets.files.seal-key=./seal-key.txt, or secrets.existingSecret) and set config.session.seal_keys = [\"file:/etc/guichet/secrets/seal-key\"] (docs/replicas.md)." }}
{{- end }}
{{- $listen := $config.server.listen | toString }}
{{- if or (hasPrefix "127." $listen) (hasPrefix "localhost:" $listen) (hasPrefix "[::1]:" $listen) }}
{{- fail (printf "config.server.listen = %q only listens on loopback: the Service and the probes could not reach guichet. Use \"0.0.0.0:PORT\"." $listen) }}
{{- end }}
{{- $metrics := include "guichet.metricsListen" . }}
{{- if and .Values.metrics.serviceMonitor.enabled (or (eq $metrics "") (hasPrefix "127." $metrics) (hasPrefix "localhost:" $metrics) (hasPrefix "[::1]:" $metrics)) }}
{{- fail (printf "metrics.serviceMonitor.enabled needs config.metrics.listen on all interfaces (\"0.0.0.0:9090\"), not %q: Prometheus could not scrape the pod." $metrics) }}
{{- end }}
{{- if eq .Values.mode "sidecar" }}
{{- if not .Values.sidecar.containers }}
{{- fail "mode = sidecar needs sidecar.containers: the application's containers, which guichet runs next to in the same pod." }}
{{- end }}
{{- $upstream := $config.upstream.url | toString }}
{{- if not (or (hasPrefix "http://127.0.0.1:" $upstream) (hasPrefix "http://localhost:" $upstream) (hasPrefix "http://[::1]:" $upstream)) }}
{{- fail (printf "mode = sidecar: config.upstream.url = %q must be the application in the same pod, http://127.0.0.1:PORT." $upstream) }}
{{- end }}
{{- end }}
{{- if not .Values.secrets.existingSecret }}
{{- $dir := printf "%s/" (include "guichet.secretsDir" .) }}
{{- range $ref := regexFindAll "file:/etc/guichet/secrets/[^\"]*" (include "guichet.configToml" .) -1 }}
{{- $file := trimPrefix (printf "file:%s" $dir) $ref }}
{{- if not (hasKey $.Values.secrets.files $file) }}
{{- fail (printf "the config reads %s, but secrets.files has no %q: add it (helm install ... --set-file secrets.files.%s=./%s) or name your own Secret in secrets.existingSecret." $ref $file (replace "." "\\." $file) $file) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Volumes of guichet: its config, its Secret, a writable /tmp. */}}
{{- define "guichet.volumes" -}}
- name: guichet-config
  configMap:
    name: {{ include "guichet.fullname" . }}
- name: guichet-secrets
  secret:
    secretName: {{ include "guichet.secretName" . }}
    defaultMode: 0440
- name: guichet-tmp
  emptyDir:
    sizeLimit: 16Mi
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "guichet.volumeMounts" -}}
- name: guichet-config
  mountPath: {{ include "guichet.configPath" . }}
  subPath: guichet.toml
  readOnly: true
- name: guichet-secrets
  mountPath: {{ include "guichet.secretsDir" . }}
  readOnly: true
- name: guichet-tmp
  mountPath: /tmp
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "guichet.env" -}}
- name: GUICHET_LOG
  value: {{ .Values.log.level | quote }}
- name: GUICHET_LOG_FORMAT
  value: {{ .Values.log.format | quote }}
{{- with .Values.env }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The guichet container, the same in both modes. */}}
{{- define "guichet.container" -}}
- name: guichet
  image: {{ include "guichet.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["run", "--config", {{ include "guichet.configPath" . | quote }}]
  ports:
    - name: http
      containerPort: {{ include "guichet.httpPort" . }}
      protocol: TCP
    {{- if include "guichet.metricsListen" . }}
    - name: metrics
      containerPort: {{ include "guichet.metricsPort" . }}
      protocol: TCP
    {{- end }}
  env:
    {{- include "guichet.env" . | nindent 4 }}
  {{- with .Values.envFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: http
      scheme: {{ .Values.probes.scheme }}
    {{- toYaml .Values.probes.liveness | nindent 4 }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: http
      scheme: {{ .Values.probes.scheme }}
    {{- toYaml .Values.probes.readiness | nindent 4 }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    {{- include "guichet.volumeMounts" . | nindent 4 }}
{{- end }}
