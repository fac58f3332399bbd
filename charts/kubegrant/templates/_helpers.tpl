{{/* The base of every object name: the release name when it contains the chart's name. */}}
{{- define "kubegrant.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kubegrant.labels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kubegrant.selectorLabels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "kubegrant.serviceAccountName" -}}
{{- default (printf "%s-operator" (include "kubegrant.fullname" .)) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The operator's one identity (webhook trust, matchConditions, RBAC subject). */}}
{{- define "kubegrant.identity" -}}
{{- if .Values.operator.identity -}}
{{- .Values.operator.identity -}}
{{- else -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "kubegrant.serviceAccountName" .) -}}
{{- end -}}
{{- end -}}

{{/* The RBAC subject of that identity, as a YAML flow mapping: a ServiceAccount's username is
     bound as that ServiceAccount, any other username as a User. Never a group. */}}
{{- define "kubegrant.subject" -}}
{{- $id := include "kubegrant.identity" . -}}
{{- $dns := "[a-z0-9]([-a-z0-9]*[a-z0-9])?" -}}
{{- if regexMatch (printf "^system:serviceaccount:%s:%s$" $dns $dns) $id -}}
{{- $parts := splitList ":" $id -}}
{kind: ServiceAccount, name: {{ index $parts 3 }}, namespace: {{ index $parts 2 }}}
{{- else -}}
{kind: User, apiGroup: rbac.authorization.k8s.io, name: {{ $id | quote }}}
{{- end -}}
{{- end -}}

{{- define "kubegrant.sealKeysSecret" -}}
{{- default (printf "%s-seal-keys" (include "kubegrant.fullname" .)) .Values.sealKeys.existingSecret -}}
{{- end -}}

{{- define "kubegrant.webhookConfigName" -}}
{{- default (include "kubegrant.fullname" .) .Values.webhook.configurationName -}}
{{- end -}}

{{- define "kubegrant.webhookService" -}}
{{- printf "%s-webhook" (include "kubegrant.fullname" .) -}}
{{- end -}}

{{- define "kubegrant.webhookTlsSecret" -}}
{{- default (printf "%s-webhook-tls" (include "kubegrant.fullname" .)) .Values.webhook.existingSecret -}}
{{- end -}}


{{/* One webhook's clientConfig: the chart's Service, or webhook.url outside the cluster. */}}
{{- define "kubegrant.clientConfig" -}}
{{- if .root.Values.webhook.url }}
url: {{ printf "%s%s" (trimSuffix "/" .root.Values.webhook.url) .path }}
{{- else }}
service:
  name: {{ include "kubegrant.webhookService" .root }}
  namespace: {{ .root.Release.Namespace }}
  path: {{ .path }}
  port: 443
{{- end }}
{{- with .caBundle }}
caBundle: {{ . }}
{{- end }}
{{- end }}

{{/* The serving certificate Helm generates (webhook.existingSecret and certManager unset):
     the one already in the Secret on an upgrade, else a new CA and a certificate for the
     Service's DNS names. Computed once per render and kept in .Values, so the Secret and
     both webhook configurations get the same CA. YAML: caBundle, caCert, tlsCert, tlsKey. */}}
{{- define "kubegrant.webhookCerts" -}}
{{- if not (hasKey .Values.webhook "_generated") -}}
{{- $secretName := include "kubegrant.webhookTlsSecret" . -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName -}}
{{- $out := dict -}}
{{- if and $existing $existing.data (hasKey $existing.data "ca.crt") (hasKey $existing.data "tls.crt") -}}
{{- $_ := set $out "caCert" (index $existing.data "ca.crt" | b64dec) -}}
{{- $_ := set $out "tlsCert" (index $existing.data "tls.crt" | b64dec) -}}
{{- $_ := set $out "tlsKey" (index $existing.data "tls.key" | b64dec) -}}
{{- else -}}
{{- $svc := include "kubegrant.webhookService" . -}}
{{- $ns := .Release.Namespace -}}
{{- $days := int .Values.webhook.certificateDays -}}
{{- $ca := genCA (printf "%s-webhook-ca" (include "kubegrant.fullname" .)) $days -}}
{{- $dns := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) -}}
{{- $cert := genSignedCert (printf "%s.%s.svc" $svc $ns) nil $dns $days $ca -}}
{{- $_ := set $out "caCert" $ca.Cert -}}
{{- $_ := set $out "tlsCert" $cert.Cert -}}
{{- $_ := set $out "tlsKey" $cert.Key -}}
{{- end -}}
{{- $_ := set $out "caBundle" ($out.caCert | b64enc) -}}
{{- $_ := set .Values.webhook "_generated" $out -}}
{{- end -}}
{{- toYaml .Values.webhook._generated -}}
{{- end -}}
