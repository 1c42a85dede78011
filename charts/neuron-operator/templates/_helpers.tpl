{{/* The release's full name, cut to the 63 characters a name may have. */}}
{{- define "neuron-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "neuron-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "neuron-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "neuron-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "neuron-operator.labels" -}}
{{ include "neuron-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- /*
Exactly what the operator does, one rule per use; nothing else. In particular no Secrets, no
pods (it never creates or execs into them: the Deployment controller makes the pods), and no
verbs to delete anything (garbage collection removes a Deployment with its NeuronDeployment).
*/}}
{{- define "neuron-operator.rules" -}}
# Its own resource: read and watch NeuronDeployments; patch them for kopf's bookkeeping
# annotations (neuron.dev/last-handled-configuration), never their spec.
- apiGroups: [neuron.dev]
  resources: [neurondeployments]
  verbs: [get, list, watch, patch]
# Report the plan and conditions: a new object's first status whole (update, preconditioned
# on the version read), then patches of what changed.
- apiGroups: [neuron.dev]
  resources: [neurondeployments/status]
  verbs: [update, patch]
# The Deployments it runs: create them (a POST), watch them for drift and server-side apply
# them (a PATCH; the API server also checks create when an apply makes a missing one).
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch]
# Training runs (workload: training): each run's Indexed Job, created once and watched for its
# state, and the headless Service its workers find each other by.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [services]
  verbs: [create, patch]
# Replicas across nodes (a model one node cannot hold): the LeaderWorkerSet that runs them,
# watched like the Deployments and server-side applied. Unused where LeaderWorkerSet is not
# installed (the plan then says it is needed).
- apiGroups: [leaderworkerset.x-k8s.io]
  resources: [leaderworkersets]
  verbs: [get, list, watch, create, patch]
# The HorizontalPodAutoscalers of spec.autoscaling: watched like the Deployments, applied, and
# deleted when a NeuronDeployment stops asking for one (its only delete).
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch, delete]
{{- if ne .Values.deviceAllocation "device-plugin" }}
# Dynamic Resource Allocation: the ResourceClaimTemplate each DRA plan's pods claim from
# (server-side apply; removed with its NeuronDeployment by garbage collection).
- apiGroups: [resource.k8s.io]
  resources: [resourceclaimtemplates]
  verbs: [create, patch]
{{- end }}
# One event per decision or failure, on the NeuronDeployment; a repeat counts up the one
# posted (patch), as client-go's recorder does.
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- if .Values.leaderElection.enabled }}
# Leader election (kopf peering): follow the peering objects, and write this release's one
# (each replica's record, renewed every few seconds).
{{- $peerings := ternary "kopfpeerings" "clusterkopfpeerings" (not (empty .Values.watchNamespaces)) }}
- apiGroups: [kopf.dev]
  resources: [{{ $peerings }}]
  verbs: [list, watch]
- apiGroups: [kopf.dev]
  resources: [{{ $peerings }}]
  resourceNames: [{{ include "neuron-operator.fullname" . }}]
  verbs: [get, patch]
{{- end }}
{{- end }}
