{{- define "ps.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ps.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ps.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ps.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "interceptor") */}}
{{- define "ps.selector" -}}
app.kubernetes.io/name: {{ include "ps.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ps.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ps.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ps.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "ps.kafkaBootstrap" -}}
{{- if .Values.kafka.bootstrapServers -}}
{{- .Values.kafka.bootstrapServers -}}
{{- else if .Values.kafka.bundled.enabled -}}
{{- printf "%s-kafka:%d" (include "ps.fullname" .) (int .Values.kafka.bundled.port) -}}
{{- else -}}
{{- fail "kafka: set kafka.bootstrapServers (an existing cluster) or kafka.bundled.enabled=true" -}}
{{- end -}}
{{- end -}}

{{- define "ps.kafkaProtocol" -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.sasl.enabled -}}SASL_SSL
{{- else if .Values.kafka.tls.enabled -}}SSL
{{- else if .Values.kafka.sasl.enabled -}}SASL_PLAINTEXT
{{- else -}}PLAINTEXT
{{- end -}}
{{- end -}}

{{/* The agent's config.yaml: derived settings, then .Values.config over them. */}}
{{- define "ps.config" -}}
{{- $kafka := dict "bootstrap_servers" (include "ps.kafkaBootstrap" .) "topic" .Values.kafka.topic "security_protocol" (include "ps.kafkaProtocol" .) -}}
{{- if .Values.kafka.sasl.enabled -}}
{{- $_ := set $kafka "sasl_mechanism" .Values.kafka.sasl.mechanism -}}
{{- end -}}
{{- if .Values.kafka.tls.enabled -}}
{{- $_ := set $kafka "ssl_ca_location" (printf "/etc/privacy-sensor/kafka-tls/%s" .Values.kafka.tls.caKey) -}}
{{- if .Values.kafka.tls.certKey -}}
{{- $_ := set $kafka "ssl_certificate_location" (printf "/etc/privacy-sensor/kafka-tls/%s" .Values.kafka.tls.certKey) -}}
{{- $_ := set $kafka "ssl_key_location" (printf "/etc/privacy-sensor/kafka-tls/%s" (required "kafka.tls.keyKey is required with certKey" .Values.kafka.tls.keyKey)) -}}
{{- end -}}
{{- end -}}
{{- $derived := dict
  "kafka" $kafka
  "kubernetes" (dict "enabled" true)
  "capture" (dict "proc_root" "/host/proc")
  "metrics" (dict "listen" (printf "0.0.0.0:%d" (int .Values.metrics.port)))
  "processor" (dict "pairs_topic" .Values.kafka.topic "map_listen" (printf "0.0.0.0:%d" (int .Values.mapService.port)) "map_db" "sqlite:///var/lib/privacy-sensor/map.db" "map_allowed_hosts" (list (printf "%s-map" (include "ps.fullname" .)) (printf "%s-map.%s" (include "ps.fullname" .) .Release.Namespace) (printf "%s-map.%s.svc" (include "ps.fullname" .) .Release.Namespace) (printf "%s-map.%s.svc.cluster.local" (include "ps.fullname" .) .Release.Namespace)))
-}}
{{- toYaml (mustMergeOverwrite $derived (deepCopy .Values.config)) -}}
{{- end -}}

{{/* Environment shared by every component: node name (downward API), Kafka SASL secret. */}}
{{- define "ps.env" -}}
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
{{- if .Values.kafka.sasl.enabled }}
- name: SENSOR__KAFKA__SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ required "kafka.sasl.secretName is required when kafka.sasl.enabled" .Values.kafka.sasl.secretName }}
      key: {{ .Values.kafka.sasl.usernameKey }}
- name: SENSOR__KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.sasl.secretName }}
      key: {{ .Values.kafka.sasl.passwordKey }}
{{- end }}
{{- end -}}

{{- define "ps.configVolumes" -}}
- name: config
  configMap:
    name: {{ include "ps.fullname" . }}
{{- if .Values.kafka.tls.enabled }}
- name: kafka-tls
  secret:
    secretName: {{ required "kafka.tls.secretName is required when kafka.tls.enabled" .Values.kafka.tls.secretName }}
{{- end }}
{{- end -}}

{{- define "ps.configMounts" -}}
- name: config
  mountPath: /etc/privacy-sensor/config.yaml
  subPath: config.yaml
  readOnly: true
{{- if .Values.kafka.tls.enabled }}
- name: kafka-tls
  mountPath: /etc/privacy-sensor/kafka-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* Scheduling knobs of a component values block */}}
{{- define "ps.scheduling" -}}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The bearer token(s) of the HTTP APIs, from the chart's Secret or auth.secretName (never the ConfigMap). */}}
{{- define "ps.authEnv" -}}
- name: SENSOR__AUTH__TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.secretName | default (printf "%s-auth" (include "ps.fullname" .)) }}
      key: {{ .Values.auth.tokenKey }}
{{- if .Values.auth.rawTokenKey }}
- name: SENSOR__AUTH__RAW_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ required "auth.secretName is required with auth.rawTokenKey" .Values.auth.secretName }}
      key: {{ .Values.auth.rawTokenKey }}
{{- end }}
{{- end -}}
