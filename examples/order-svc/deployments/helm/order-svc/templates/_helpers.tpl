{{/* Name of every object: the release name, which Argo CD sets to the service name. */}}
{{- define "order-svc.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 53 | trimSuffix "-" -}}
{{- end -}}

{{- define "order-svc.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ include "order-svc.fullname" . }}
{{- end -}}

{{- define "order-svc.labels" -}}
{{ include "order-svc.selectorLabels" . }}
app.kubernetes.io/version: {{ include "order-svc.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: smp
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The version label: the tag people read, else the digest's short form. */}}
{{- define "order-svc.version" -}}
{{- if .Values.image.tag -}}
{{- .Values.image.tag | trunc 63 -}}
{{- else -}}
{{- .Values.image.digest | trimPrefix "sha256:" | trunc 12 -}}
{{- end -}}
{{- end -}}

{{/*
The image reference. A digest wins over the tag: the digest is what CI built and staging
tested, and a tag can move. The workload and the migration hook both use this, so they can
never run different builds.
*/}}
{{- define "order-svc.image" -}}
{{- $img := .Values.image -}}
{{- if and $img.requireDigest (not $img.digest) -}}
{{- fail "image.digest: required in this environment (image.requireDigest is true): promote by digest, e.g. `smpctl promote`, which writes image.repository, image.tag and image.digest" -}}
{{- end -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else if $img.tag -}}
{{- printf "%s:%s" $img.repository $img.tag -}}
{{- else -}}
{{- fail "image: set image.digest (preferred) or image.tag in the environment file" -}}
{{- end -}}
{{- end -}}

{{/* Replica-count rules a cluster would only reveal during a drain or a scale-down. */}}
{{- define "order-svc.checkReplicas" -}}
{{- if .Values.podDisruptionBudget.enabled -}}
{{- if hasKey .Values.podDisruptionBudget "minAvailable" -}}
{{- fail "podDisruptionBudget.minAvailable: use podDisruptionBudget.maxUnavailable (e.g. 1): the budget's selector spans both colours of a blue/green pair, so minAvailable lets a drain evict every active pod" -}}
{{- end -}}
{{- if ge (int .Values.podDisruptionBudget.maxUnavailable) (int .Values.replicaCount) -}}
{{- fail (printf "podDisruptionBudget.maxUnavailable (%d) must be lower than replicaCount (%d), or a drain could evict every pod" (int .Values.podDisruptionBudget.maxUnavailable) (int .Values.replicaCount)) -}}
{{- end -}}
{{- end -}}
{{- if .Values.autoscaling.enabled -}}
{{- if lt (int .Values.autoscaling.maxReplicas) (int .Values.replicaCount) -}}
{{- fail (printf "autoscaling.maxReplicas (%d) must be at least replicaCount (%d), the HPA's floor" (int .Values.autoscaling.maxReplicas) (int .Values.replicaCount)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "order-svc.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "order-svc.podSecurityContext" -}}
runAsNonRoot: true
# distroless "nonroot"
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The pod template shared by the Deployment and the Rollout. */}}
{{- define "order-svc.podTemplate" -}}
metadata:
  labels:
    {{- include "order-svc.labels" . | nindent 4 }}
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- include "order-svc.podSecurityContext" . | nindent 4 }}
  {{- if .Values.topologySpread.enabled }}
  topologySpreadConstraints:
    {{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
    - maxSkew: {{ $.Values.topologySpread.maxSkew }}
      topologyKey: {{ . }}
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "order-svc.selectorLabels" $ | nindent 10 }}
    {{- end }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ .Chart.Name }}
      image: {{ include "order-svc.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      ports:
        - name: http
          containerPort: {{ .Values.containerPort }}
          protocol: TCP
      env:
        - name: PORT
          value: {{ .Values.containerPort | quote }}
      envFrom:
        - configMapRef:
            name: {{ include "order-svc.fullname" . }}
        - secretRef:
            name: {{ .Values.secret.name }}
      livenessProbe:
        httpGet:
          path: {{ .Values.probes.liveness.path }}
          port: http
        initialDelaySeconds: {{ .Values.probes.liveness.initialDelaySeconds }}
        periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
      readinessProbe:
        httpGet:
          path: {{ .Values.probes.readiness.path }}
          port: http
        initialDelaySeconds: {{ .Values.probes.readiness.initialDelaySeconds }}
        periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ .Values.preStopSleepSeconds }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- include "order-svc.securityContext" . | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    # readOnlyRootFilesystem: the only writable place.
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
{{- end -}}
