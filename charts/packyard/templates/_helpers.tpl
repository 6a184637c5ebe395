{{/* Chart name, truncated to the 63 characters Kubernetes allows in names. */}}
{{- define "packyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release name, plus the chart name unless the release name contains it. */}}
{{- define "packyard.fullname" -}}
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

{{- define "packyard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "packyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "packyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector of the server pods (the migration Job's pods carry component "migrate" instead). */}}
{{- define "packyard.serverSelectorLabels" -}}
{{ include "packyard.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "packyard.labels" -}}
helm.sh/chart: {{ include "packyard.chart" . }}
{{ include "packyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "packyard.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/* Name of the hook-only Secret read by the migration Job (see migrate-secret.yaml). */}}
{{- define "packyard.migrateSecretName" -}}
{{- printf "%s-migrate" (include "packyard.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Storage modes. Each helper prints "true" or nothing, for use in `if`. */}}
{{- define "packyard.postgres" -}}
{{- if or .Values.database.url .Values.database.existingSecret }}true{{ end }}
{{- end }}

{{- define "packyard.s3" -}}
{{- if .Values.s3.endpoint }}true{{ end }}
{{- end }}

{{- define "packyard.redis" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret }}true{{ end }}
{{- end }}

{{/* packyard keeps state on local disk: the SQLite database, filesystem blobs, or both. */}}
{{- define "packyard.localState" -}}
{{- if not (and (include "packyard.postgres" .) (include "packyard.s3" .)) }}true{{ end }}
{{- end }}

{{/* The data directory is a PersistentVolumeClaim (existing or the chart's own). */}}
{{- define "packyard.usePVC" -}}
{{- if and (include "packyard.localState" .) .Values.persistence.enabled }}true{{ end }}
{{- end }}

{{- define "packyard.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "packyard.fullname" .)) }}
{{- end }}

{{/*
Refuses configurations that cannot work. Included by every workload template, so `helm template`,
`helm install` and `helm upgrade` all stop with the message before anything is applied.
*/}}
{{- define "packyard.validate" -}}
{{- $replicas := int .Values.replicaCount }}
{{- if lt $replicas 0 }}
{{- fail "packyard: replicaCount must not be negative" }}
{{- end }}
{{- if gt $replicas 1 }}
{{- $missing := list }}
{{- if not (include "packyard.postgres" .) }}{{ $missing = append $missing "PostgreSQL (database.url or database.existingSecret)" }}{{ end }}
{{- if not (and .Values.s3.endpoint .Values.s3.bucket) }}{{ $missing = append $missing "S3 (s3.endpoint and s3.bucket)" }}{{ end }}
{{- if not (include "packyard.redis" .) }}{{ $missing = append $missing "Redis (redis.url or redis.existingSecret)" }}{{ end }}
{{- if $missing }}
{{- fail (printf "packyard: replicaCount=%d requires PostgreSQL, S3 and Redis; missing: %s. The embedded SQLite database, filesystem blobs and in-memory cache support a single replica only." $replicas (join ", " $missing)) }}
{{- end }}
{{- end }}
{{- if and .Values.database.url (not .Values.database.existingSecret) (not (hasPrefix "postgres://" .Values.database.url)) }}
{{- fail "packyard: database.url must be a postgres:// URL (leave it empty for the embedded SQLite database)" }}
{{- end }}
{{- if and .Values.s3.endpoint (not .Values.s3.bucket) }}
{{- fail "packyard: s3.endpoint is set but s3.bucket is empty" }}
{{- end }}
{{- if and (or .Values.s3.accessKey .Values.s3.secretKey) (not .Values.s3.existingSecret) (not (and .Values.s3.accessKey .Values.s3.secretKey)) }}
{{- fail "packyard: set both s3.accessKey and s3.secretKey, or neither" }}
{{- end }}
{{- if and .Values.migrations.job.enabled (not (include "packyard.postgres" .)) }}
{{- fail "packyard: migrations.job.enabled requires PostgreSQL (database.url or database.existingSecret); the embedded SQLite database is migrated by the pod itself at start-up" }}
{{- end }}
{{- if and .Values.secretKey.value (not .Values.secretKey.existingSecret) }}
{{- if ne (len (b64dec .Values.secretKey.value)) 32 }}
{{- fail "packyard: secretKey.value must be 32 bytes encoded in base64 (openssl rand -base64 32)" }}
{{- end }}
{{- end }}
{{- if and .Values.secretKey.previous (ne (len (b64dec .Values.secretKey.previous)) 32) }}
{{- fail "packyard: secretKey.previous must be 32 bytes encoded in base64, like secretKey.value" }}
{{- end }}
{{- if not (regexMatch "^[0-9]+$" (toString .Values.shutdownTimeoutSeconds)) }}
{{- fail "packyard: shutdownTimeoutSeconds must be a whole number of seconds" }}
{{- end }}
{{- end }}

{{/*
The encryption key (base64 of the key, as stored in Secret data): the configured value, else the one already
in the release Secret, else a new random key. The result is remembered for this render so that the release
Secret and the migration hook Secret carry the same key.
*/}}
{{- define "packyard.secretKeyData" -}}
{{- if not (hasKey .Values "__packyardSecretKeyData") }}
{{- $data := "" }}
{{- if .Values.secretKey.value }}
{{- $data = b64enc .Values.secretKey.value }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "packyard.fullname" .) }}
{{- if and $existing $existing.data (index $existing.data "secret-key") }}
{{- $data = index $existing.data "secret-key" }}
{{- else }}
{{- $data = randBytes 32 | b64enc }}
{{- end }}
{{- end }}
{{- $_ := set .Values "__packyardSecretKeyData" $data }}
{{- end }}
{{- index .Values "__packyardSecretKeyData" }}
{{- end }}

{{/* The `data:` entries of the chart's Secret (release Secret and migration hook Secret alike). */}}
{{- define "packyard.secretData" -}}
{{- if and .Values.database.url (not .Values.database.existingSecret) }}
database-url: {{ .Values.database.url | b64enc | quote }}
{{- end }}
{{- if and .Values.s3.endpoint .Values.s3.accessKey (not .Values.s3.existingSecret) }}
s3-access-key: {{ .Values.s3.accessKey | b64enc | quote }}
s3-secret-key: {{ .Values.s3.secretKey | b64enc | quote }}
{{- end }}
{{- if and .Values.redis.url (not .Values.redis.existingSecret) }}
redis-url: {{ .Values.redis.url | b64enc | quote }}
{{- end }}
{{- if not .Values.secretKey.existingSecret }}
secret-key: {{ include "packyard.secretKeyData" . | quote }}
{{- end }}
{{- if .Values.secretKey.previous }}
secret-key-previous: {{ .Values.secretKey.previous | b64enc | quote }}
{{- end }}
{{- end }}

{{/*
The container environment. Call with (dict "ctx" $ "secretName" <name of the Secret with the chart's keys>
"migrateOnStart" <bool>).
*/}}
{{- define "packyard.env" -}}
{{- $ := .ctx }}
{{- $secret := .secretName }}
- name: PACKYARD_HTTP_ADDR
  value: {{ printf ":%d" (int $.Values.containerPort) | quote }}
- name: PACKYARD_DATA_DIR
  value: /var/lib/packyard
- name: PACKYARD_LOG_LEVEL
  value: {{ $.Values.log.level | quote }}
- name: PACKYARD_LOG_FORMAT
  value: {{ $.Values.log.format | quote }}
- name: PACKYARD_SHUTDOWN_TIMEOUT
  value: {{ printf "%ss" (toString $.Values.shutdownTimeoutSeconds) | quote }}
- name: PACKYARD_MIGRATE_ON_START
  value: {{ .migrateOnStart | toString | quote }}
- name: PACKYARD_TRUST_PROXY_HEADERS
  value: {{ $.Values.trustProxyHeaders | toString | quote }}
{{- if $.Values.baseURL }}
- name: PACKYARD_BASE_URL
  value: {{ $.Values.baseURL | quote }}
{{- end }}
{{- if $.Values.bufSDKHost }}
- name: PACKYARD_BUF_SDK_HOST
  value: {{ $.Values.bufSDKHost | quote }}
{{- end }}
{{- if include "packyard.postgres" $ }}
- name: PACKYARD_DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- if $.Values.database.existingSecret }}
      name: {{ $.Values.database.existingSecret | quote }}
      key: {{ $.Values.database.existingSecretKey | quote }}
      {{- else }}
      name: {{ $secret | quote }}
      key: database-url
      {{- end }}
{{- end }}
{{- if $.Values.s3.endpoint }}
- name: PACKYARD_S3_ENDPOINT
  value: {{ $.Values.s3.endpoint | quote }}
- name: PACKYARD_S3_BUCKET
  value: {{ $.Values.s3.bucket | quote }}
{{- if $.Values.s3.region }}
- name: PACKYARD_S3_REGION
  value: {{ $.Values.s3.region | quote }}
{{- end }}
- name: PACKYARD_S3_USE_TLS
  value: {{ $.Values.s3.useTLS | toString | quote }}
{{- if or $.Values.s3.existingSecret $.Values.s3.accessKey }}
- name: PACKYARD_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      {{- if $.Values.s3.existingSecret }}
      name: {{ $.Values.s3.existingSecret | quote }}
      key: {{ $.Values.s3.existingSecretAccessKeyKey | quote }}
      {{- else }}
      name: {{ $secret | quote }}
      key: s3-access-key
      {{- end }}
- name: PACKYARD_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      {{- if $.Values.s3.existingSecret }}
      name: {{ $.Values.s3.existingSecret | quote }}
      key: {{ $.Values.s3.existingSecretSecretKeyKey | quote }}
      {{- else }}
      name: {{ $secret | quote }}
      key: s3-secret-key
      {{- end }}
{{- end }}
{{- end }}
{{- if include "packyard.redis" $ }}
- name: PACKYARD_REDIS_URL
  valueFrom:
    secretKeyRef:
      {{- if $.Values.redis.existingSecret }}
      name: {{ $.Values.redis.existingSecret | quote }}
      key: {{ $.Values.redis.existingSecretKey | quote }}
      {{- else }}
      name: {{ $secret | quote }}
      key: redis-url
      {{- end }}
{{- end }}
{{- with $.Values.changeFeed }}
- name: PACKYARD_CHANGE_FEED
  value: {{ . | quote }}
{{- end }}
- name: PACKYARD_SECRET_KEY
  valueFrom:
    secretKeyRef:
      {{- if $.Values.secretKey.existingSecret }}
      name: {{ $.Values.secretKey.existingSecret | quote }}
      key: {{ $.Values.secretKey.existingSecretKey | quote }}
      {{- else }}
      name: {{ $secret | quote }}
      key: secret-key
      {{- end }}
{{- if $.Values.secretKey.previous }}
- name: PACKYARD_SECRET_KEY_PREVIOUS
  valueFrom:
    secretKeyRef:
      name: {{ $secret | quote }}
      key: secret-key-previous
{{- end }}
{{- include "packyard.settingsEnv" $ }}
{{- if $.Values.tls.existingSecret }}
- name: PACKYARD_TLS_CERT_FILE
  value: /etc/packyard/tls/tls.crt
- name: PACKYARD_TLS_KEY_FILE
  value: /etc/packyard/tls/tls.key
{{- end }}
{{- include "packyard.secretEnv" (dict "name" "PACKYARD_METRICS_TOKEN" "ref" $.Values.metrics.token) }}
{{- include "packyard.secretEnv" (dict "name" "PACKYARD_OIDC_CLIENT_SECRET" "ref" $.Values.oidc.clientSecret) }}
{{- with $.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The plain settings: each PACKYARD_* variable and the value it comes from. A variable is set only when its
value is not empty, so packyard's own default applies otherwise.
*/}}
{{- define "packyard.settings" -}}
PACKYARD_TMP_MAX_SIZE: tmpMaxSize
PACKYARD_S3_PREFIX: s3.prefix
PACKYARD_REDIS_PREFIX: redis.prefix
PACKYARD_CACHE_MAX_SIZE: cache.maxSize
PACKYARD_CAS_MAX_BLOB_SIZE: cas.maxBlobSize
PACKYARD_GC_INTERVAL: gc.interval
PACKYARD_GC_GRACE: gc.grace
PACKYARD_JOB_LEASE_TIME: jobs.leaseTime
PACKYARD_JOB_POLL_INTERVAL: jobs.pollInterval
PACKYARD_HTTP_MAX_BODY_SIZE: http.maxBodySize
PACKYARD_HTTP_READ_HEADER_TIMEOUT: http.readHeaderTimeout
PACKYARD_HTTP_READ_TIMEOUT: http.readTimeout
PACKYARD_HTTP_WRITE_TIMEOUT: http.writeTimeout
PACKYARD_HTTP_IDLE_TIMEOUT: http.idleTimeout
PACKYARD_METRICS_ADDR: metrics.addr
PACKYARD_OUTBOUND_ALLOWED_NETWORKS: outbound.allowedNetworks
PACKYARD_OIDC_ISSUER: oidc.issuer
PACKYARD_OIDC_CLIENT_ID: oidc.clientId
PACKYARD_OIDC_REDIRECT_URL: oidc.redirectUrl
PACKYARD_OIDC_SCOPES: oidc.scopes
PACKYARD_OIDC_USERNAME_CLAIM: oidc.usernameClaim
PACKYARD_OIDC_LINK_BY_EMAIL: oidc.linkByEmail
PACKYARD_OIDC_ROLE_RULES: oidc.roleRules
PACKYARD_OIDC_TOKEN_TTL: oidc.tokenTtl
PACKYARD_CI_ISSUERS: ciIssuers
PACKYARD_RATELIMIT_AUTH_FAILURES_PER_ADDRESS: ratelimit.authFailuresPerAddress
PACKYARD_RATELIMIT_AUTH_FAILURES_PER_ADDRESS_AND_TOKEN: ratelimit.authFailuresPerAddressAndToken
PACKYARD_RATELIMIT_AUTH_FAILURE_WINDOW: ratelimit.authFailureWindow
PACKYARD_RATELIMIT_REQUESTS_PER_TOKEN: ratelimit.requestsPerToken
PACKYARD_RATELIMIT_REQUEST_WINDOW: ratelimit.requestWindow
PACKYARD_COMPOSER_MAX_UPLOAD_SIZE: composer.maxUploadSize
PACKYARD_COMPOSER_MAX_ARCHIVE_ENTRIES: composer.maxArchiveEntries
PACKYARD_COMPOSER_MAX_UNCOMPRESSED_SIZE: composer.maxUncompressedSize
PACKYARD_COMPOSER_MAX_COMPRESSION_RATIO: composer.maxCompressionRatio
PACKYARD_COMPOSER_MAX_DIST_SIZE: composer.maxDistSize
PACKYARD_COMPOSER_SYNC_INTERVAL: composer.syncInterval
PACKYARD_COMPOSER_SYNC_TIMEOUT: composer.syncTimeout
PACKYARD_COMPOSER_SYNC_CONCURRENCY: composer.syncConcurrency
PACKYARD_COMPOSER_CACHE_TTL: composer.cacheTtl
PACKYARD_COMPOSER_PUBLIC_REPOSITORY_URL: composer.publicRepositoryUrl
PACKYARD_COMPOSER_UPSTREAM_MAX_AGE: composer.upstreamMaxAge
PACKYARD_COMPOSER_UPSTREAM_TIMEOUT: composer.upstreamTimeout
PACKYARD_COMPOSER_UPSTREAM_RATE_LIMIT: composer.upstreamRateLimit
PACKYARD_COMPOSER_UPSTREAM_BURST: composer.upstreamBurst
PACKYARD_BUF_MAX_FILE_SIZE: buf.maxFileSize
PACKYARD_BUF_MAX_UPLOAD_SIZE: buf.maxUploadSize
PACKYARD_BUF_MAX_FILES: buf.maxFiles
PACKYARD_BUF_MAX_GRAPH_NODES: buf.maxGraphNodes
PACKYARD_BUF_MAX_REFS_PER_REQUEST: buf.maxRefsPerRequest
PACKYARD_BUF_MAX_RESPONSE_BYTES: buf.maxResponseBytes
PACKYARD_BUF_DEFAULT_LABEL: buf.defaultLabel
PACKYARD_BUF_PLUGIN_MEMORY_LIMIT: bufPlugins.memoryLimit
PACKYARD_BUF_PLUGIN_TIMEOUT: bufPlugins.timeout
PACKYARD_BUF_PLUGIN_PARALLELISM: bufPlugins.parallelism
PACKYARD_BUF_PLUGIN_MAX_SIZE: bufPlugins.maxSize
PACKYARD_BUF_PLUGIN_MAX_OUTPUT: bufPlugins.maxOutput
{{- end }}

{{/* The env entries of the plain settings that are set (whole numbers stay whole: YAML reads them as floats). */}}
{{- define "packyard.settingsEnv" -}}
{{- range $name, $path := include "packyard.settings" . | fromYaml }}
{{- $v := $.Values }}
{{- range splitList "." $path }}{{ $v = index $v . }}{{ end }}
{{- if kindIs "float64" $v }}{{ $v = int64 $v }}{{ end }}
{{- if ne (toString $v) "" }}
- name: {{ $name }}
  value: {{ toString $v | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* A secret variable read from a Secret the user manages. Call with (dict "name" <variable> "ref" <value with existingSecret and existingSecretKey>). */}}
{{- define "packyard.secretEnv" -}}
{{- if .ref.existingSecret }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .ref.existingSecret | quote }}
      key: {{ .ref.existingSecretKey | quote }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by the Deployment and the migration Job. */}}
{{- define "packyard.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.serviceAccount.name }}
serviceAccountName: {{ . | quote }}
{{- end }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
